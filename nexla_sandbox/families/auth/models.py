"""Auth rules: service-key login, bearer-token checks, logout."""

from __future__ import annotations

import base64
import secrets
import time

from ...domain import ApiError

TOKEN_TTL = 86400


class AuthModel:
    """Domain mixin: tokens live in memory (self.tokens), not in the store."""

    def login(self, authorization: str) -> dict:
        """POST /token: Basic <service key> (verbatim, or base64 of 'key' / 'key:')."""
        scheme, _, value = (authorization or "").partition(" ")
        if scheme.lower() != "basic" or not value.strip():
            raise ApiError(401, "Authentication failed: a Basic service key is required")
        value = value.strip()
        candidates = [value]
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
            candidates += [decoded, decoded.rstrip(":")]
        except (ValueError, UnicodeDecodeError):
            pass
        for key in candidates:
            found = self.store.find("users", "_service_key", key)
            if found and found[0].get("status") == "ACTIVE":
                user = found[0]
                token = "sbx-tok-" + secrets.token_urlsafe(24)
                self.tokens[token] = {"user_id": user["id"], "expires": time.time() + TOKEN_TTL}
                return {"access_token": token, "token_type": "Bearer", "expires_in": TOKEN_TTL,
                        "user": {"id": user["id"], "email": user["email"]},
                        "org": {"id": user["org_id"], "name": self.org(user["org_id"])["name"]}}
        raise ApiError(401, "Authentication failed: unknown service key")

    def authenticate(self, authorization: str) -> dict:
        scheme, _, token = (authorization or "").partition(" ")
        entry = self.tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if entry is None or entry["expires"] < time.time():
            raise ApiError(401, "Unauthorized: missing, unknown or expired access token")
        user = self.user(entry["user_id"])
        if user is None or user.get("status") != "ACTIVE":
            raise ApiError(401, "Unauthorized: user is not active")
        return user

    def logout(self, authorization: str):
        _, _, token = (authorization or "").partition(" ")
        self.tokens.pop(token.strip(), None)
