"""Reports: campaign figures, the workspace dashboard and a contact's activity, read
from the analytics rollups."""
