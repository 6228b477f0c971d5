"""Masking for logs: payment codes and keys are never written whole."""


def mask(secret: str, keep: int = 4) -> str:
    """All but the last `keep` characters replaced by '*': '134567890123456789' -> '**************6789'."""
    if len(secret) <= keep:
        return "*" * len(secret)
    return "*" * (len(secret) - keep) + secret[-keep:]
