"""The final, self-contained HTML report (jinja2 template + a generic builder)."""

from posthoc.report.builder import STAGE_ORDER, build_context, build_report, caption_for, read_speed_tables

__all__ = ["STAGE_ORDER", "build_context", "build_report", "caption_for", "read_speed_tables"]
