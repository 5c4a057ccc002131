"use client";
import { AppShell, Burger, Button, Center, Group, Loader, NavLink, ScrollArea, Stack, Text } from "@mantine/core";
import { useDisclosure } from "@mantine/hooks";
import { IconLogout } from "@tabler/icons-react";
import Link from "next/link";
import { usePathname, useRouter } from "next/navigation";
import { useEffect, useState, type ReactNode } from "react";

import { api } from "@/api/client";
import { ErrorAlert } from "@/components/common/ErrorAlert";
import { clearSession, isSignedIn, refreshToken } from "@/api/session";
import { WorkspaceProvider, useMe } from "@/api/workspace";

import { NAV } from "./nav";
import { WorkspaceSwitcher } from "./WorkspaceSwitcher";

function isActive(pathname: string, href: string): boolean {
  if (href === "/settings/") return pathname === "/settings/" || pathname === "/settings";
  return pathname === href || pathname.startsWith(href);
}

/** The signed-in frame: header, navigation with the workspace switcher, and the page. */
export function AppFrame({ children }: { children: ReactNode }) {
  const router = useRouter();
  const pathname = usePathname();
  const [opened, { toggle, close }] = useDisclosure();
  const [signedIn, setSignedIn] = useState<boolean | null>(null);

  useEffect(() => {
    const ok = isSignedIn();
    setSignedIn(ok);
    if (!ok) {
      const next = encodeURIComponent(window.location.pathname + window.location.search);
      router.replace(`/signin/?next=${next}`);
    }
  }, [router]);

  const me = useMe();
  useEffect(close, [pathname, close]);

  if (!signedIn || me.isPending) {
    return (
      <Center h="100vh">
        <Loader aria-label="Loading" />
      </Center>
    );
  }
  if (me.isError) {
    return (
      <Center h="100vh" p="md">
        <ErrorAlert error={me.error} title="Maily could not load your account" />
      </Center>
    );
  }

  const signOut = async () => {
    const token = refreshToken();
    if (token) await api.POST("/api/v1/auth/logout", { body: { refresh_token: token } }).catch(() => undefined);
    clearSession();
    router.replace("/signin/");
  };

  return (
    <WorkspaceProvider me={me.data}>
      <AppShell
        header={{ height: 56 }}
        navbar={{ width: 250, breakpoint: "sm", collapsed: { mobile: !opened } }}
        padding="md"
      >
        <AppShell.Header>
          <Group h="100%" px="md" justify="space-between">
            <Group>
              <Burger opened={opened} onClick={toggle} hiddenFrom="sm" size="sm" aria-label="Toggle navigation" />
              <Text fw={700} size="lg" component={Link} href="/dashboard/">
                Maily
              </Text>
            </Group>
            <Group gap="xs">
              <Text size="sm" c="dimmed" visibleFrom="sm" data-testid="current-user">
                {me.data.user.email}
              </Text>
              <Button variant="subtle" size="xs" leftSection={<IconLogout size={16} />} onClick={signOut}>
                Sign out
              </Button>
            </Group>
          </Group>
        </AppShell.Header>
        <AppShell.Navbar p="sm" aria-label="Main navigation">
          <AppShell.Section mb="sm">
            <WorkspaceSwitcher />
          </AppShell.Section>
          <AppShell.Section grow component={ScrollArea}>
            <Stack gap="sm">
              {NAV.map((group) => (
                <div key={group.label}>
                  <Text size="xs" fw={700} c="dimmed" tt="uppercase" px="sm" mb={4}>
                    {group.label}
                  </Text>
                  {group.links.map((link) => (
                    <NavLink
                      key={link.href}
                      component={Link}
                      href={link.href}
                      label={link.label}
                      leftSection={<link.icon size={18} stroke={1.5} />}
                      active={isActive(pathname, link.href)}
                      data-testid={`nav-${link.href.replace(/\//g, " ").trim().replace(/ /g, "-")}`}
                    />
                  ))}
                </div>
              ))}
            </Stack>
          </AppShell.Section>
        </AppShell.Navbar>
        <AppShell.Main>{children}</AppShell.Main>
      </AppShell>
    </WorkspaceProvider>
  );
}
