"use client";
import { Suspense } from "react";

import { AcceptInvitation } from "@/components/shell/AcceptInvitation";

export default function AcceptInvitationPage() {
  return (
    <Suspense>
      <AcceptInvitation />
    </Suspense>
  );
}
