"""The tamper-evident audit record: every model request and admin action, hash-chained,
with signed checkpoints (chain, signing), written off the request path (writer),
verified (verify) and exported (export). See each module's docstring."""

from switchgear.audit.entry import AuditEntry
from switchgear.audit.signing import Signer, SigningKeyError, load_public_key
from switchgear.audit.verify import VerifyReport, main_report_text, verify
from switchgear.audit.writer import AuditWriter

__all__ = [
    "AuditEntry",
    "AuditWriter",
    "Signer",
    "SigningKeyError",
    "VerifyReport",
    "load_public_key",
    "main_report_text",
    "verify",
]
