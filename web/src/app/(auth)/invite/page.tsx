"use client";
// The link the API hands out (…/invite?token=…); the same page as /invitations/accept/.
import { Suspense } from "react";

import { AcceptInvitation } from "@/components/shell/AcceptInvitation";

export default function AcceptInvitationPage() {
  return (
    <Suspense>
      <AcceptInvitation />
    </Suspense>
  );
}
