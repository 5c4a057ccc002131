"use client";
import { Button, Group, Paper, ScrollArea, Select, Stack, Table, Text, TextInput, Title, Tooltip } from "@mantine/core";
import { useForm } from "@mantine/form";
import { IconCheck } from "@tabler/icons-react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";

import { api } from "@/api/client";
import { ApiError, unwrap } from "@/api/errors";
import type { Role } from "@/api/types";
import { useWorkspace } from "@/api/workspace";
import { ErrorAlert } from "@/components/common/ErrorAlert";
import { PageHeader } from "@/components/common/PageHeader";
import { ShownOnce } from "@/components/common/ShownOnce";
import { formatDate, formatDateTime } from "@/components/common/format";
import { ROLES, canManageMembers, grantable } from "@/components/settings/roles";

export default function TeamPage() {
  const { workspaceId, workspace, me } = useWorkspace();
  const queryClient = useQueryClient();
  const manage = canManageMembers(workspace.role);
  const roleOptions = grantable(workspace.role).map((role) => ({ value: role, label: role }));
  const path = { workspace_id: workspaceId };

  const members = useQuery({
    queryKey: ["members", workspaceId],
    queryFn: () => unwrap(api.GET("/api/v1/workspaces/{workspace_id}/members", { params: { path, query: { limit: 200 } } })),
  });
  const invitations = useQuery({
    queryKey: ["invitations", workspaceId],
    enabled: manage,
    queryFn: () => unwrap(api.GET("/api/v1/workspaces/{workspace_id}/invitations", { params: { path, query: { limit: 200 } } })),
  });
  const permissions = useQuery({ queryKey: ["permissions"], queryFn: () => unwrap(api.GET("/api/v1/permissions")) });

  const changeRole = useMutation({
    mutationFn: ({ userId, role }: { userId: string; role: Role }) =>
      unwrap(api.PATCH("/api/v1/workspaces/{workspace_id}/members/{user_id}", { params: { path: { ...path, user_id: userId } }, body: { role } })),
    onSettled: () => queryClient.invalidateQueries({ queryKey: ["members", workspaceId] }),
  });
  const removeMember = useMutation({
    mutationFn: (userId: string) =>
      unwrap(api.DELETE("/api/v1/workspaces/{workspace_id}/members/{user_id}", { params: { path: { ...path, user_id: userId } } })),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ["members", workspaceId] }),
  });

  const [inviteLink, setInviteLink] = useState<string | null>(null);
  const inviteForm = useForm<{ email: string; role: Role }>({ initialValues: { email: "", role: "editor" } });
  const invite = useMutation({
    mutationFn: (body: { email: string; role: Role }) =>
      unwrap(api.POST("/api/v1/workspaces/{workspace_id}/invitations", { params: { path }, body })),
    onSuccess: (created) => {
      setInviteLink(created.accept_url);
      inviteForm.reset();
      void queryClient.invalidateQueries({ queryKey: ["invitations", workspaceId] });
    },
    onError: (error) => {
      if (error instanceof ApiError) inviteForm.setErrors(error.fieldErrors());
    },
  });
  const revoke = useMutation({
    mutationFn: (id: string) =>
      unwrap(api.DELETE("/api/v1/workspaces/{workspace_id}/invitations/{invitation_id}", { params: { path: { ...path, invitation_id: id } } })),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ["invitations", workspaceId] }),
  });

  return (
    <>
      <PageHeader title="Team and roles" description="Who works in this workspace, and what each role may do." />
      <Stack>
        <Paper withBorder p="md">
          <Title order={2} size="h4" mb="sm">
            Members
          </Title>
          <ErrorAlert error={members.error} />
          <ScrollArea type="auto">
            <Table aria-label="Members" miw={560} data-testid="members-table">
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>Person</Table.Th>
                  <Table.Th>Role</Table.Th>
                  <Table.Th>Joined</Table.Th>
                  <Table.Th />
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {members.data?.items.map((member) => {
                  const self = member.user_id === me.user.id;
                  return (
                    <Table.Tr key={member.user_id}>
                      <Table.Td>
                        <Text size="sm">{member.name || member.email}</Text>
                        {member.name ? (
                          <Text size="xs" c="dimmed">
                            {member.email}
                          </Text>
                        ) : null}
                      </Table.Td>
                      <Table.Td>
                        {manage && !self ? (
                          <Select
                            aria-label={`Role of ${member.email}`}
                            size="xs"
                            w={130}
                            allowDeselect={false}
                            value={member.role}
                            data={ROLES.map((role) => ({ value: role, label: role, disabled: !grantable(workspace.role).includes(role) }))}
                            onChange={(role) => role && changeRole.mutate({ userId: member.user_id, role: role as Role })}
                          />
                        ) : (
                          <Text size="sm">{member.role}</Text>
                        )}
                      </Table.Td>
                      <Table.Td>{formatDate(member.joined_at)}</Table.Td>
                      <Table.Td>
                        {manage && !self ? (
                          <Button
                            size="xs"
                            variant="subtle"
                            color="red"
                            onClick={() => {
                              if (window.confirm(`Remove ${member.email} from the workspace?`)) removeMember.mutate(member.user_id);
                            }}
                          >
                            Remove
                          </Button>
                        ) : null}
                      </Table.Td>
                    </Table.Tr>
                  );
                })}
              </Table.Tbody>
            </Table>
          </ScrollArea>
          <ErrorAlert error={changeRole.error ?? removeMember.error} />
        </Paper>

        {manage ? (
          <Paper withBorder p="md">
            <Title order={2} size="h4" mb="sm">
              Invitations
            </Title>
            <form onSubmit={inviteForm.onSubmit((values) => invite.mutate(values))}>
              <Group align="flex-end" wrap="wrap">
                <TextInput label="Email" type="email" required data-testid="invite-email" {...inviteForm.getInputProps("email")} />
                <Select label="Role" allowDeselect={false} data={roleOptions} w={140} data-testid="invite-role" {...inviteForm.getInputProps("role")} />
                <Button type="submit" loading={invite.isPending} data-testid="invite-submit">
                  Invite
                </Button>
              </Group>
            </form>
            <ErrorAlert error={invite.error} testId="invite-error" />
            {inviteLink ? (
              <Stack mt="sm">
                <ShownOnce title="Invitation link" value={inviteLink} onDone={() => setInviteLink(null)} testId="invite-link" />
              </Stack>
            ) : null}
            <ErrorAlert error={invitations.error} />
            {invitations.data && invitations.data.items.length > 0 ? (
              <Table mt="sm" aria-label="Open invitations">
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th>Email</Table.Th>
                    <Table.Th>Role</Table.Th>
                    <Table.Th>Expires</Table.Th>
                    <Table.Th />
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {invitations.data.items.map((invitation) => (
                    <Table.Tr key={invitation.id}>
                      <Table.Td>{invitation.email}</Table.Td>
                      <Table.Td>{invitation.role}</Table.Td>
                      <Table.Td>{formatDateTime(invitation.expires_at)}</Table.Td>
                      <Table.Td>
                        <Button size="xs" variant="subtle" color="red" onClick={() => revoke.mutate(invitation.id)}>
                          Revoke
                        </Button>
                      </Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
            ) : (
              <Text size="sm" mt="sm" c="dimmed">
                No open invitations.
              </Text>
            )}
            <ErrorAlert error={revoke.error} />
          </Paper>
        ) : null}

        <Paper withBorder p="md">
          <Title order={2} size="h4" mb="sm">
            What each role may do
          </Title>
          <ErrorAlert error={permissions.error} />
          <ScrollArea type="auto">
            <Table aria-label="Permissions by role" miw={640} striped>
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>Permission</Table.Th>
                  {ROLES.map((role) => (
                    <Table.Th key={role}>{role}</Table.Th>
                  ))}
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {permissions.data?.map((permission) => (
                  <Table.Tr key={permission.name}>
                    <Table.Td>
                      <Tooltip label={permission.name}>
                        <Text size="sm">{permission.description}</Text>
                      </Tooltip>
                    </Table.Td>
                    {ROLES.map((role) => (
                      <Table.Td key={role} aria-label={permission.roles.includes(role) ? "yes" : "no"}>
                        {permission.roles.includes(role) ? <IconCheck size={16} /> : null}
                      </Table.Td>
                    ))}
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </ScrollArea>
        </Paper>
      </Stack>
    </>
  );
}
