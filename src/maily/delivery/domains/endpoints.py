"""HTTP routes for sending domains (DNS records, verification) and senders."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, status

from maily.api.deps import SessionDep, SettingsDep
from maily.delivery.domains import schemas
from maily.delivery.domains.auth import SendingRead, SendingWrite
from maily.delivery.domains.service import (
    SenderService,
    SendingDomainService,
    describe_domain,
    sender_out,
)
from maily.kit.pagination import Page, PageParams, make_page, page_params

router = APIRouter(prefix="/api/v1", tags=["sending"])
Paging = Annotated[PageParams, Depends(page_params)]
DOMAINS = "/workspaces/{workspace_id}/sending-domains"
SENDERS = "/workspaces/{workspace_id}/senders"


@router.get(DOMAINS, operation_id="sending_domains_list")
async def list_domains(
    ctx: SendingRead, paging: Paging, session: SessionDep, settings: SettingsDep
) -> Page[schemas.SendingDomainOut]:
    domains = await SendingDomainService(session, settings).list(ctx, paging)
    return make_page([describe_domain(d, settings) for d in domains], paging, lambda d: d.id)


@router.post(
    DOMAINS,
    operation_id="sending_domains_create",
    status_code=status.HTTP_201_CREATED,
    responses={409: {"description": "The workspace already has this domain"}},
)
async def create_domain(
    body: schemas.SendingDomainCreate, ctx: SendingWrite, session: SessionDep, settings: SettingsDep
) -> schemas.SendingDomainOut:
    """Add a domain and generate its DKIM key. The answer lists the DNS records to
    publish; then call `verify`."""
    domain = await SendingDomainService(session, settings).create(ctx, body)
    return describe_domain(domain, settings)


@router.get(f"{DOMAINS}/{{sending_domain_id}}", operation_id="sending_domains_get")
async def get_domain(
    sending_domain_id: uuid.UUID, ctx: SendingRead, session: SessionDep, settings: SettingsDep
) -> schemas.SendingDomainOut:
    domain = await SendingDomainService(session, settings).get(ctx, sending_domain_id)
    return describe_domain(domain, settings)


@router.post(f"{DOMAINS}/{{sending_domain_id}}/verify", operation_id="sending_domains_verify")
async def verify_domain(
    sending_domain_id: uuid.UUID, ctx: SendingWrite, session: SessionDep, settings: SettingsDep
) -> schemas.SendingDomainOut:
    """Look the domain's records up in DNS now and record each one's status. The
    domain is verified once every record is found as asked."""
    domain = await SendingDomainService(session, settings).verify(ctx, sending_domain_id)
    return describe_domain(domain, settings)


@router.delete(
    f"{DOMAINS}/{{sending_domain_id}}",
    operation_id="sending_domains_delete",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={409: {"description": "Senders still use the domain"}},
)
async def delete_domain(
    sending_domain_id: uuid.UUID, ctx: SendingWrite, session: SessionDep, settings: SettingsDep
) -> None:
    await SendingDomainService(session, settings).delete(ctx, sending_domain_id)


@router.get(SENDERS, operation_id="senders_list")
async def list_senders(
    ctx: SendingRead, paging: Paging, session: SessionDep
) -> Page[schemas.SenderOut]:
    rows = await SenderService(session).list(ctx, paging)
    return make_page([sender_out(s, d) for s, d in rows], paging, lambda s: s.id)


@router.post(SENDERS, operation_id="senders_create", status_code=status.HTTP_201_CREATED)
async def create_sender(
    body: schemas.SenderCreate, ctx: SendingWrite, session: SessionDep
) -> schemas.SenderOut:
    """Add a From identity. Its address must be on one of the workspace's sending
    domains; campaigns can send as it once that domain is verified."""
    return sender_out(*await SenderService(session).create(ctx, body))


@router.get(f"{SENDERS}/{{sender_id}}", operation_id="senders_get")
async def get_sender(
    sender_id: uuid.UUID, ctx: SendingRead, session: SessionDep
) -> schemas.SenderOut:
    return sender_out(*await SenderService(session).get(ctx, sender_id))


@router.patch(f"{SENDERS}/{{sender_id}}", operation_id="senders_update")
async def update_sender(
    sender_id: uuid.UUID, body: schemas.SenderUpdate, ctx: SendingWrite, session: SessionDep
) -> schemas.SenderOut:
    return sender_out(*await SenderService(session).update(ctx, sender_id, body))


@router.delete(
    f"{SENDERS}/{{sender_id}}",
    operation_id="senders_delete",
    status_code=status.HTTP_204_NO_CONTENT,
)
async def delete_sender(sender_id: uuid.UUID, ctx: SendingWrite, session: SessionDep) -> None:
    await SenderService(session).delete(ctx, sender_id)
