"""CPU per composed message, in one process, no database or network: the send bench's
template (personalised ~10 KB, 20 tracked links, merge tags) compiled once, then
`PreparedMessages.compose()` run for `--messages` recipients with an RSA-2048 (or
Ed25519) DKIM signature, timed with `time.process_time()`. Also times the pieces —
the Jinja render, the click tokens, the MIME assembly and the signature — so a change
can be judged by CPU rather than by wall-clock figures on a shared machine.
Prints one JSON line; `--profile FILE` writes a cProfile of the compose loop."""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from send_throughput import DOMAIN, PUBLIC_URL, template_source

from maily.delivery.composer import ContactRow, DeliveryRow
from maily.delivery.composing import PreparedMessages
from maily.delivery.dkim import DkimAlgorithm, DkimSigner, generate_key
from maily.delivery.message import MessageBuilder
from maily.delivery.verp import Verp
from maily.templates import (
    campaign_variables,
    compile_template,
    workspace_variables,
)
from maily.tracking.links import link_table_id
from maily.tracking.tokens import TokenSigner


def prepared(algorithm: DkimAlgorithm, links: int) -> PreparedMessages:
    key = generate_key(algorithm)
    workspace_id, campaign_id = uuid.uuid4(), uuid.uuid4()
    builder = MessageBuilder(
        from_email=f"hello@{DOMAIN}",
        from_name="Springfield Goods",
        sending_domain=DOMAIN,
        return_path_domain=f"bounces.{DOMAIN}",
        workspace_id=workspace_id,
        verp=Verp("bench-secret"),
        signer=DkimSigner(DOMAIN, "bench", key.private_key_pem, algorithm),
        campaign_id=campaign_id,
        list_id=campaign_id.hex,
        list_name="Spring",
        unsubscribe_url=f"{PUBLIC_URL}/u/{{token}}",
    )
    template = compile_template(
        template_source(links),
        "html",
        subject="Spring is here, {{ contact.first_name }}",
        preheader="Twenty offers picked for you",
    )
    return PreparedMessages(
        templates={None: template},
        builder=builder,
        tokens=TokenSigner(os.urandom(32)),
        public_url=PUBLIC_URL,
        workspace=workspace_variables("Springfield Goods", "1 Main St, Springfield"),
        campaign=campaign_variables("Spring", "Spring is here"),
        link_tables={None: link_table_id(workspace_id, uuid.uuid4(), 1, template.links)},
    )


def rows(count: int) -> list[tuple[DeliveryRow, ContactRow]]:
    workspace_id, campaign_id = uuid.uuid4(), uuid.uuid4()
    out = []
    for n in range(count):
        email = f"reader{n}@inbox{n % 7}.test"
        out.append(
            (
                DeliveryRow(uuid.uuid4(), workspace_id, campaign_id, uuid.uuid4(), email, None, 0),
                ContactRow(uuid.uuid4(), email, f"Reader{n}", f"Family{n % 100}"),
            )
        )
    return out


def cpu_us(work: Callable[[], object], repeat: int) -> float:
    started = time.process_time()
    for _ in range(repeat):
        work()
    return (time.process_time() - started) / repeat * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--links", type=int, default=20)
    parser.add_argument(
        "--algorithm", default="rsa-sha256", choices=[a.value for a in DkimAlgorithm]
    )
    parser.add_argument("--profile", help="write a cProfile of the compose loop here")
    args = parser.parse_args()
    messages = prepared(DkimAlgorithm(args.algorithm), args.links)
    batch = rows(args.messages)
    for delivery, contact in batch[:50]:  # warm-up
        messages.compose(delivery, contact)
    profiler = cProfile.Profile() if args.profile else None
    wall = time.perf_counter()
    started = time.process_time()
    if profiler:
        profiler.enable()
    sizes = [len(messages.compose(delivery, contact).data) for delivery, contact in batch]
    if profiler:
        profiler.disable()
        profiler.dump_stats(args.profile)
    cpu = time.process_time() - started
    wall = time.perf_counter() - wall

    delivery, contact = batch[0]
    sample = messages.compose(delivery, contact)
    signer = messages.builder.signer
    assert signer is not None
    head, _, body = sample.data.partition(b"\r\n\r\n")
    key: Any = signer._key
    repeat = max(200, args.messages // 10)
    pieces = {
        "click_tokens_us": cpu_us(
            lambda: messages.tokens.click_urls(
                PUBLIC_URL, delivery.id or uuid.uuid4(), args.links, messages.link_tables[None]
            ),
            repeat,
        ),
        "sign_only_us": cpu_us(lambda: signer.sign_parts([(b"From", b" a@b.test")], b""), repeat),
        "private_key_op_us": cpu_us(
            lambda: (
                key.sign(b"x" * 400, *_rsa_args())
                if args.algorithm == "rsa-sha256"
                else key.sign(b"x" * 32)
            ),
            repeat,
        ),
    }
    print(
        json.dumps(
            {
                "bench": "compose_cpu",
                "messages": args.messages,
                "algorithm": args.algorithm,
                "compose_cpu_us_per_msg": round(cpu / args.messages * 1e6, 1),
                "compose_wall_us_per_msg": round(wall / args.messages * 1e6, 1),
                "message_bytes": round(sum(sizes) / len(sizes)),
                "body_bytes": len(body),
                "header_bytes": len(head),
                **{k: round(v, 1) for k, v in pieces.items()},
                "loadavg_1m": round(os.getloadavg()[0], 2),
            }
        )
    )


def _rsa_args() -> tuple[Any, Any]:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    return padding.PKCS1v15(), hashes.SHA256()


if __name__ == "__main__":
    main()
