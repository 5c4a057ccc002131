"use client";

import { Button, Drawer, Modal } from "@mantine/core";
import { useDisclosure } from "@mantine/hooks";
import Link from "next/link";

import { ContactsTable } from "@/components/audience/ContactsTable";
import { CustomFieldsManager } from "@/components/audience/CustomFieldsManager";
import { NewContactForm } from "@/components/audience/NewContactForm";
import { PageHeader } from "@/components/common/PageHeader";

export default function ContactsPage() {
  const [adding, adder] = useDisclosure(false);
  const [fields, fieldsDrawer] = useDisclosure(false);
  return (
    <>
      <PageHeader
        title="Contacts"
        description="Everyone in the workspace. Search, filter, and act on a selection or a whole segment."
        actions={
          <>
            <Button variant="default" onClick={fieldsDrawer.open} data-testid="contacts-fields">
              Custom fields
            </Button>
            <Button variant="default" component={Link} href="/imports/">
              Import
            </Button>
            <Button onClick={adder.open} data-testid="contacts-new">
              Add contact
            </Button>
          </>
        }
      />
      <ContactsTable />
      <Modal opened={adding} onClose={adder.close} title="Add a contact">
        <NewContactForm />
      </Modal>
      <Drawer opened={fields} onClose={fieldsDrawer.close} title="Custom fields" position="right" size="lg">
        <CustomFieldsManager />
      </Drawer>
    </>
  );
}
