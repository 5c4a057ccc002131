"""Each workspace's AI model providers: settings, the fallback model built from them,
and token and cost accounting."""

from maily.ai.providers.chain import WorkspaceModel, describe_failure, workspace_model
from maily.ai.providers.usage import DatabaseUsageSink, record_usage

__all__ = [
    "DatabaseUsageSink",
    "WorkspaceModel",
    "describe_failure",
    "record_usage",
    "workspace_model",
]
