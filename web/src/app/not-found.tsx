import { Anchor, Center, Stack, Text, Title } from "@mantine/core";
import Link from "next/link";

export default function NotFound() {
  return (
    <Center h="100vh">
      <Stack align="center">
        <Title order={1}>Not found</Title>
        <Text>There is no page here.</Text>
        <Anchor component={Link} href="/">
          Back to Maily
        </Anchor>
      </Stack>
    </Center>
  );
}
