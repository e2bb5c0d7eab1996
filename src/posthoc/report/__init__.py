"""The final, self-contained HTML report (jinja2 template + a generic builder)."""
from posthoc.report.builder import CAPTIONS, STAGE_ORDER, build_context, build_report, caption_for

__all__ = ["CAPTIONS", "STAGE_ORDER", "build_context", "build_report", "caption_for"]
