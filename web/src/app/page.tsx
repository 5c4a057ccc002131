"use client";
import { Center, Loader } from "@mantine/core";
import { useRouter } from "next/navigation";
import { useEffect } from "react";

import { isSignedIn } from "@/api/session";

export default function Home() {
  const router = useRouter();
  useEffect(() => {
    router.replace(isSignedIn() ? "/dashboard/" : "/signin/");
  }, [router]);
  return (
    <Center h="100vh">
      <Loader aria-label="Loading" />
    </Center>
  );
}
