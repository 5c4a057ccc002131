"use client";

import { Loader, Text } from "@mantine/core";
import { useSearchParams } from "next/navigation";
import { Suspense } from "react";

import { ContactView } from "@/components/audience/ContactView";

function Contact() {
  const id = useSearchParams().get("id");
  if (!id) return <Text c="dimmed">No contact chosen: open one from the contacts table.</Text>;
  return <ContactView id={id} key={id} />;
}

export default function ContactPage() {
  return (
    <Suspense fallback={<Loader size="sm" />}>
      <Contact />
    </Suspense>
  );
}
