"""A workspace's model: its enabled providers in priority order as pydantic-ai models,
behind a FallbackModel when there is more than one, and failures turned into
ModelUnavailable with every provider's reason in words."""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from anthropic import AsyncAnthropic
from openai import AsyncOpenAI
from pydantic_ai import RunContext
from pydantic_ai.exceptions import (
    FallbackExceptionGroup,
    ModelAPIError,
    ModelConnectionError,
    ModelHTTPError,
    ModelTimeoutError,
)
from pydantic_ai.messages import ModelMessage, ModelResponse
from pydantic_ai.models import Model, ModelRequestParameters, StreamedResponse
from pydantic_ai.models.anthropic import AnthropicModel
from pydantic_ai.models.fallback import FallbackModel
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.models.wrapper import WrapperModel
from pydantic_ai.providers.anthropic import AnthropicProvider
from pydantic_ai.providers.openai import OpenAIProvider
from pydantic_ai.settings import ModelSettings

from maily.ai.contracts import ModelUnavailable
from maily.ai.providers.addresses import RefusedURL, Resolver, check_base_url, system_resolver
from maily.config import Settings, get_settings
from maily.kit.db import AsyncSession
from maily.models import AIProvider

NONE_CONFIGURED = (
    "No AI provider is configured for this workspace; add one under Settings → AI providers"
)
NONE_ENABLED = (
    "Every AI provider of this workspace is disabled; enable one under Settings → AI providers"
)
# Ollama, vLLM and LM Studio take no key, but the OpenAI client insists on one.
NO_KEY = "not-needed"


@dataclass(frozen=True)
class ProviderLabel:
    """Which configured provider a built model stands for, for messages and usage."""

    id: uuid.UUID
    name: str
    kind: str
    model: str
    base_url: str

    def __str__(self) -> str:
        return f"{self.name} ({self.kind}, {self.model})"


def build_provider_model(provider: AIProvider, settings: Settings) -> Model:
    """One configured provider as a pydantic-ai model, with its own timeout and the
    configured number of retries (its SDK's backoff, honouring Retry-After)."""
    retries = settings.ai_providers.max_retries
    if provider.kind == "anthropic":
        anthropic = AsyncAnthropic(
            api_key=provider.api_key or NO_KEY,
            base_url=provider.base_url,
            timeout=provider.timeout_seconds,
            max_retries=retries,
        )
        return AnthropicModel(
            provider.model, provider=AnthropicProvider(anthropic_client=anthropic)
        )
    openai = AsyncOpenAI(
        api_key=provider.api_key or NO_KEY,
        base_url=provider.base_url,
        timeout=provider.timeout_seconds,
        max_retries=retries,
    )
    return OpenAIChatModel(provider.model, provider=OpenAIProvider(openai_client=openai))


def _error_text(body: object) -> str:
    """The provider's own message out of an error body (OpenAI's or Anthropic's shape)."""
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return str(inner["message"])
        if isinstance(inner, str):
            return inner
        if isinstance(body.get("message"), str):
            return str(body["message"])
    if isinstance(body, str):
        return body
    return ""


def describe_failure(error: BaseException) -> str:
    """Why one provider did not answer, in words a person can act on."""
    if isinstance(error, ModelHTTPError):
        said = _error_text(error.body)
        detail = f": {said}" if said else ""
        status = error.status_code
        if status in (401, 403):
            return f"the provider refused the API key (HTTP {status}{detail})"
        if status == 404:
            return f"the provider does not know this model or path (HTTP 404{detail})"
        if status == 429:
            wait = f"; it asks to wait {error.retry_after:g} s" if error.retry_after else ""
            return f"the provider is rate limiting requests (HTTP 429{detail}{wait})"
        if status >= 500:
            return f"the provider had an error (HTTP {status}{detail})"
        return f"the provider refused the request (HTTP {status}{detail})"
    if isinstance(error, ModelTimeoutError):
        return "the provider did not answer in time"
    if isinstance(error, ModelConnectionError):
        return "could not connect to the provider (connection refused or lost)"
    if isinstance(error, ModelAPIError):
        return error.message or type(error).__name__
    return str(error) or type(error).__name__


def _unavailable(error: BaseException, labels: Sequence[ProviderLabel]) -> ModelUnavailable:
    failures = list(error.exceptions) if isinstance(error, FallbackExceptionGroup) else [error]
    reasons = []
    for index, failure in enumerate(failures):
        label = str(labels[index]) if index < len(labels) else "a provider"
        reasons.append(f"{label}: {describe_failure(failure)}")
    if len(labels) == 1:
        return ModelUnavailable(f"The AI provider did not answer — {reasons[0]}")
    return ModelUnavailable("No AI provider answered — " + "; ".join(reasons))


_MODEL_ERRORS = (FallbackExceptionGroup, ModelAPIError)


class WorkspaceModel(WrapperModel):
    """The workspace's chain of models; a call that no provider answers raises
    ModelUnavailable naming each provider and its reason."""

    def __init__(
        self, wrapped: Model, labels: Sequence[ProviderLabel], skipped: Sequence[str] = ()
    ) -> None:
        super().__init__(wrapped)
        self.labels = list(labels)
        self.skipped = list(skipped)  # providers left out (refused base URL), with why

    def unavailable(self, error: BaseException) -> ModelUnavailable:
        failure = _unavailable(error, self.labels)
        if self.skipped:
            return ModelUnavailable(f"{failure}; left out: " + "; ".join(self.skipped))
        return failure

    async def request(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
    ) -> ModelResponse:
        try:
            return await self.wrapped.request(messages, model_settings, model_request_parameters)
        except _MODEL_ERRORS as error:
            raise self.unavailable(error) from error

    @asynccontextmanager
    async def request_stream(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
        run_context: RunContext[Any] | None = None,
    ) -> AsyncGenerator[StreamedResponse]:
        try:
            async with self.wrapped.request_stream(
                messages, model_settings, model_request_parameters, run_context
            ) as stream:
                yield stream
        except _MODEL_ERRORS as error:
            raise self.unavailable(error) from error


async def chain_of(
    providers: Sequence[AIProvider],
    settings: Settings,
    resolver: Resolver = system_resolver,
    *,
    include_disabled: bool = False,
) -> WorkspaceModel:
    """The model over these providers (the enabled ones unless `include_disabled`, in
    the order given)."""
    if not providers:
        raise ModelUnavailable(NONE_CONFIGURED)
    enabled = [p for p in providers if p.enabled or include_disabled]
    if not enabled:
        raise ModelUnavailable(NONE_ENABLED)
    models: list[Model] = []
    labels: list[ProviderLabel] = []
    skipped: list[str] = []
    for provider in enabled:
        label = ProviderLabel(
            provider.id, provider.name, provider.kind, provider.model, provider.base_url
        )
        try:
            await check_base_url(provider.base_url, settings, resolver)
        except RefusedURL as refused:
            skipped.append(f"{label}: its base URL is refused ({refused})")
            continue
        models.append(build_provider_model(provider, settings))
        labels.append(label)
    if not models:
        raise ModelUnavailable("No AI provider can be used — " + "; ".join(skipped))
    inner = models[0] if len(models) == 1 else FallbackModel(*models)
    return WorkspaceModel(inner, labels, skipped)


async def workspace_model(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    settings: Settings | None = None,
    *,
    resolver: Resolver = system_resolver,
) -> WorkspaceModel:
    """The pydantic-ai model for one workspace's calls: its enabled providers in
    priority order, falling back from each to the next.

    Raises ModelUnavailable when the workspace has no usable provider; a call that no
    provider answers raises ModelUnavailable with each provider's reason."""
    from maily.ai.providers.repository import ProviderRepository

    providers = await ProviderRepository(session).list(workspace_id)
    return await chain_of(providers, settings or get_settings(), resolver)
