"""What a folder is called on screen: its server name without the personal namespace prefix,
split at the delimiter, and the tree the folder pane and the picker build from it."""

from __future__ import annotations

from tuimail.core.model import FolderRole
from tuimail.store import folder_names, read, write
from tuimail.store.db import StoreConnection
from tuimail.store.folder_names import folder_path
from tuimail.ui.folder_tree import folder_tree


def test_the_personal_prefix_is_left_out_and_the_rest_split_at_the_delimiter() -> None:
    assert folder_path("INBOX.Lists.dev", ".", "INBOX.") == ("Lists", "dev")
    assert folder_path("INBOX", ".", "INBOX.") == ("INBOX",), "INBOX stays INBOX"
    assert folder_path("inbox.Sent", ".", "INBOX.") == ("Sent",), "INBOX in any case"
    assert folder_path("Lists/dev", "/", "") == ("Lists", "dev")
    assert folder_path("Other Users.bob", ".", "INBOX.") == ("Other Users", "bob")
    assert folder_path("Flat", None, "") == ("Flat",)
    assert folder_path("a..b", ".", "") == ("a..b",), "an empty level: the name whole"
    assert folder_path("INBOX.", ".", "INBOX.") == ("INBOX.",)
    deep = folder_path("/".join(str(n) for n in range(5000)), "/", "")
    assert len(deep) == folder_names.MAX_FOLDER_DEPTH and deep[-1].startswith("15/16/17/")


def test_the_prefix_is_recorded_per_account_and_changes_what_its_folders_show(
    conn: StoreConnection,
) -> None:
    cyrus = write.ensure_account(conn, "cyrus", None)
    other = write.ensure_account(conn, "other", None)
    write.upsert_folder(conn, cyrus, "INBOX.Lists.dev", delimiter=".")
    write.upsert_folder(conn, other, "INBOX.Lists.dev", delimiter=".")
    before = read.revision(conn)
    assert write.set_folder_prefix(conn, cyrus, "INBOX.")
    assert not write.set_folder_prefix(conn, cyrus, "INBOX."), "unchanged: nothing written"
    paths = {f.account: f.path for f in read.folders(conn)}
    assert paths == {"cyrus": ("Lists", "dev"), "other": ("INBOX", "Lists", "dev")}
    changed = read.changes_since(conn, before)
    assert {f.account for f in read.folders(conn) if f.id in changed.folders} == {"cyrus"}
    [shown] = [f for f in read.folders(conn) if f.account == "cyrus"]
    assert shown.name == "INBOX.Lists.dev" and shown.display_name == "Lists.dev"


def test_the_tree_puts_inbox_first_and_every_level_once() -> None:
    def folder(name: str, prefix: str = "INBOX.") -> read.FolderInfo:
        return read.FolderInfo(
            len(name), 1, "a", name, ".", FolderRole.NONE, 0, 0, None, None, None, None, None,
            None, None, 0, path=folder_path(name, ".", prefix),
        )  # fmt: skip

    names = ["INBOX.zeta", "INBOX.Lists.dev", "INBOX.Lists.ops", "INBOX", "INBOX.alpha"]
    entries = folder_tree([folder(n) for n in names])
    assert [("  " * e.depth + e.label, e.folder is not None) for e in entries] == [
        ("INBOX", True),
        ("alpha", True),
        ("Lists", False),
        ("  dev", True),
        ("  ops", True),
        ("zeta", True),
    ]
