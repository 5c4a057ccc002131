"use client";

import { Button, Group, Text } from "@mantine/core";
import { useEffect, useState } from "react";

/** Cursor pages: the API gives the next page's cursor; going back pops the ones seen. */
export interface CursorPager {
  cursor: string | null;
  page: number;
  next: (cursor: string) => void;
  previous: () => void;
  reset: () => void;
}

export function useCursorPager(resetOn: unknown[]): CursorPager {
  const [stack, setStack] = useState<(string | null)[]>([null]);
  const key = JSON.stringify(resetOn);
  useEffect(() => {
    setStack([null]);
  }, [key]);
  return {
    cursor: stack[stack.length - 1] ?? null,
    page: stack.length,
    next: (cursor) => setStack((s) => [...s, cursor]),
    previous: () => setStack((s) => (s.length > 1 ? s.slice(0, -1) : s)),
    reset: () => setStack([null]),
  };
}

export function Pager({ pager, nextCursor }: { pager: CursorPager; nextCursor: string | null }) {
  if (pager.page === 1 && !nextCursor) return null;
  return (
    <Group gap="xs" justify="flex-end" aria-label="Pages" role="navigation">
      <Button variant="default" size="xs" disabled={pager.page === 1} onClick={pager.previous}>
        Previous
      </Button>
      <Text size="sm">Page {pager.page}</Text>
      <Button
        variant="default"
        size="xs"
        disabled={!nextCursor}
        onClick={() => nextCursor && pager.next(nextCursor)}
        data-testid="pager-next"
      >
        Next
      </Button>
    </Group>
  );
}
