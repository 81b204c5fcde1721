"""Bridge security: auth, Origin/Host checks, trusted proxies, CORS, header-to-environment mapping.

Wiring: `policy = build_policy(settings, bind_host=..., public_base_url=...)` once at start-up;
wrap the whole app in `SecurityMiddleware(app, policy)`; when a transport creates a session it
calls `policy.header_env.environment(os.environ, request.headers)` for the child's environment and
binds the session to `request.state.credential_id`.
"""

from bridge.security.errors import Refusal, RefusedError, jsonrpc_error_body
from bridge.security.header_env import HeaderEnv, MissingPolicy
from bridge.security.middleware import CREDENTIAL_ID, SecurityMiddleware
from bridge.security.policy import PROBE_PATHS, SecurityConfigError, SecurityPolicy, build_policy, is_loopback
from bridge.security.settings import SecuritySettings, split_env_list
from bridge.security.tokens import TokenFileError, TokenStore

__all__ = [
    "CREDENTIAL_ID",
    "PROBE_PATHS",
    "HeaderEnv",
    "MissingPolicy",
    "Refusal",
    "RefusedError",
    "SecurityConfigError",
    "SecurityMiddleware",
    "SecurityPolicy",
    "SecuritySettings",
    "TokenFileError",
    "TokenStore",
    "build_policy",
    "is_loopback",
    "jsonrpc_error_body",
    "split_env_list",
]
