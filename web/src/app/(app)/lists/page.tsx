"use client";

import { ListsPage } from "@/components/audience/ListsPage";

export default function Lists() {
  return <ListsPage />;
}
