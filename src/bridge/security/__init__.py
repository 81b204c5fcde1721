"""Bridge security: auth, Origin/Host checks, trusted proxies, CORS, header-to-environment mapping.

Wiring: `policy = build_policy(settings)` once at start-up, from the bridge's own
`bridge.config.Settings`; wrap the whole app in `SecurityMiddleware(app, policy, on_error=...)`.
When a transport creates a session it calls
`policy.header_env.environment(os.environ, Headers.of(scope).text())` for the child's environment
and binds the session to `scope["state"]["credential_id"]`. Every refusal, here or there, is a
`bridge.http.HttpError`.
"""

from bridge.security.header_env import HeaderEnv, MissingPolicy
from bridge.security.middleware import CREDENTIAL_ID, SecurityMiddleware
from bridge.security.policy import PROBE_PATHS, SecurityConfigError, SecurityPolicy, build_policy, is_loopback
from bridge.security.tokens import TokenFileError, TokenStore

__all__ = [
    "CREDENTIAL_ID",
    "PROBE_PATHS",
    "HeaderEnv",
    "MissingPolicy",
    "SecurityConfigError",
    "SecurityMiddleware",
    "SecurityPolicy",
    "TokenFileError",
    "TokenStore",
    "build_policy",
    "is_loopback",
]
