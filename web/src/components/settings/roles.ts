import type { Role } from "@/api/types";

export const ROLES: Role[] = ["owner", "admin", "editor", "analyst", "viewer"];
const RANK: Record<Role, number> = { viewer: 1, analyst: 2, editor: 3, admin: 4, owner: 5 };

/** The roles this person may hand out: none above their own. */
export function grantable(mine: Role): Role[] {
  return ROLES.filter((role) => RANK[role] <= RANK[mine]);
}

export function canManageMembers(role: Role): boolean {
  return role === "owner" || role === "admin";
}
