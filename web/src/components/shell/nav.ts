// Every page of the app, as the navigation shows it.
import {
  IconAddressBook,
  IconChartBar,
  IconFileImport,
  IconFilter,
  IconInbox,
  IconLayoutDashboard,
  IconList,
  IconMail,
  IconSend,
  IconSettings,
  IconSparkles,
  IconTemplate,
  type Icon,
} from "@tabler/icons-react";

export type NavLink = { label: string; href: string; icon: Icon };
export type NavGroup = { label: string; links: NavLink[] };

export const NAV: NavGroup[] = [
  {
    label: "Overview",
    links: [{ label: "Dashboard", href: "/dashboard/", icon: IconLayoutDashboard }],
  },
  {
    label: "Audience",
    links: [
      { label: "Contacts", href: "/contacts/", icon: IconAddressBook },
      { label: "Import", href: "/imports/", icon: IconFileImport },
      { label: "Lists", href: "/lists/", icon: IconList },
      { label: "Segments", href: "/segments/", icon: IconFilter },
      { label: "Outbox", href: "/outbox/", icon: IconInbox },
    ],
  },
  {
    label: "Email",
    links: [
      { label: "Templates", href: "/templates/", icon: IconTemplate },
      { label: "Campaigns", href: "/campaigns/", icon: IconSend },
      { label: "Reports", href: "/reports/", icon: IconChartBar },
      { label: "AI assistant", href: "/assistant/", icon: IconSparkles },
    ],
  },
  {
    label: "Settings",
    links: [
      { label: "Workspace", href: "/settings/", icon: IconSettings },
      { label: "Sending domains", href: "/settings/domains/", icon: IconMail },
      { label: "Team", href: "/settings/team/", icon: IconSettings },
      { label: "API keys", href: "/settings/api-keys/", icon: IconSettings },
      { label: "Webhooks", href: "/settings/webhooks/", icon: IconSettings },
      { label: "AI providers", href: "/settings/ai-providers/", icon: IconSparkles },
    ],
  },
];
