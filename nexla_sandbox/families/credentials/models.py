"""Credential rules: which values are secret, when a probe passes, copies for copied resources."""

from __future__ import annotations


def rejected_message(cred_id: int) -> str:
    """What a probe of a credential the remote system rejects says (the probe and CallProbe)."""
    return f"Invalid credentials: data_credentials/{cred_id} was rejected by the remote system"


class CredentialModel:
    """Domain mixin for data_credentials."""

    SECRET_HINTS = ("pass", "secret", "token", "key", "private", "credential", "auth")

    def split_secrets(self, credentials: dict) -> dict:
        return {k: v for k, v in credentials.items()
                if not any(h in k.lower() for h in self.SECRET_HINTS)}

    def probe_ok(self, cred: dict) -> bool:
        """A credential probes bad when any secret value says so (seed 13: 'wrong-password')."""
        for value in (cred.get("_secret") or {}).values():
            if isinstance(value, str) and any(w in value.lower() for w in ("wrong", "invalid", "bad")):
                return False
        return True

    def _credential_for_copy(self, cred_id: int, user: dict, opts: dict) -> int:
        cred = self.store.get("data_credentials", cred_id)
        if cred is None or opts.get("reuse_data_credentials"):
            return cred_id
        fields = self._copyable(cred)
        fields.update(name=f"{cred['name']} (copy)", copied_from_id=cred_id)
        return self.new_doc("data_credentials", user, fields)["id"]
