from pier.content.local import LocalContentStore
from pier.content.store import ContentStore, Info, IngestStatus, Writer

__all__ = ["ContentStore", "Info", "IngestStatus", "LocalContentStore", "Writer"]
