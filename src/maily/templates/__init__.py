"""Templates: sandboxed Jinja2 over MJML or HTML, compiled once per campaign, rendered per message.

What other parts call:

    compile_template(source, kind, *, subject, preheader, layout_source, blocks, limits)
        -> CompiledTemplate
    CompiledTemplate.render(variables, *, click_url, open_url) -> RenderedMessage
    CompiledTemplate.links -> list[str]            the link table, by index
    load_compiled_template(session, workspace_id, template_id, *, version, limits)
        -> CompiledVersion(template_id, version, compiled)
    merge_variables(contact=..., workspace=..., campaign=..., unsubscribe_url=..., ...)
    contact_variables(email, first_name, last_name, fields, tags)

docs/templates.md describes the template language and its limits."""

from maily.templates.compiler import (
    COMPILE_STATS,
    CompiledTemplate,
    RenderedMessage,
    TemplateKind,
    compile_template,
)
from maily.templates.errors import RenderError, TemplateProblem
from maily.templates.sandbox import RenderLimits
from maily.templates.service import CompiledVersion, limits_from_settings, load_compiled_template
from maily.templates.variables import (
    campaign_variables,
    contact_variables,
    merge_variables,
    sample_contact,
    workspace_variables,
)

__all__ = [
    "COMPILE_STATS",
    "CompiledTemplate",
    "CompiledVersion",
    "RenderError",
    "RenderLimits",
    "RenderedMessage",
    "TemplateKind",
    "TemplateProblem",
    "campaign_variables",
    "compile_template",
    "contact_variables",
    "limits_from_settings",
    "load_compiled_template",
    "merge_variables",
    "sample_contact",
    "workspace_variables",
]
