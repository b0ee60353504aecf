"""The library internals tuimail relies on are still there, and only the wire modules use them.

tuimail.sync.{imap,pop3,smtp}.wire are the only modules that touch private names of
imaplib, imapclient, poplib, smtplib and aiosmtplib. An upgrade of one of those libraries (or of
Python, for the standard library ones) that renames, removes or reshapes one of the internals
fails here, naming it, rather than somewhere in a sync at a user's.
"""

from __future__ import annotations

import ast
import imaplib
import importlib
import inspect
import poplib
import smtplib
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import aiosmtplib.protocol
import imapclient
import imapclient.imap4
import imapclient.imapclient
import imapclient.response_parser
import imapclient.tls
import pytest

import tuimail

LIBRARIES = ("imaplib", "poplib", "smtplib", "imapclient", "aiosmtplib")
WIRE_MODULES = ("tuimail.sync.imap.wire", "tuimail.sync.pop3.wire", "tuimail.sync.smtp.wire")
PACKAGE = Path(tuimail.__file__).parent


@dataclass(frozen=True)
class Internal:
    """One internal the wire modules use: where it lives and the shape they rely on."""

    owner: Any  # a class or a module
    name: str
    parameters: tuple[str, ...] | None = None  # a callable's parameter names, in order
    assigned: bool = False  # an instance attribute the owner's methods assign
    called_from: tuple[str, ...] = ()  # methods of the owner that must still call it (a hook)
    coroutine: bool = False

    def __str__(self) -> str:
        owner = self.owner
        where = owner.__qualname__ if inspect.isclass(owner) else owner.__name__
        return f"{owner.__module__ if inspect.isclass(owner) else ''}.{where}.{self.name}".lstrip(
            "."
        )


IMAP4 = imaplib.IMAP4
CLIENT = imapclient.IMAPClient
POP3 = poplib.POP3
PROTOCOL = aiosmtplib.protocol.SMTPProtocol

INTERNALS = (
    # imap_wire
    Internal(CLIENT, "_imap", assigned=True),
    Internal(CLIENT, "_starttls_done", assigned=True),
    Internal(CLIENT, "_timeout", assigned=True),
    Internal(CLIENT, "_idle_tag", assigned=True),
    Internal(CLIENT, "_normalise_folder", ("self", "folder_name")),
    Internal(CLIENT, "_proc_folder_list", ("self", "folder_data")),
    Internal(CLIENT, "_process_select_response", ("self", "resp")),
    Internal(
        CLIENT,
        "_raw_command_untagged",
        ("self", "command", "args", "response_name", "unpack", "uid"),
    ),
    Internal(CLIENT, "_create_IMAP4", ("self",), called_from=("__init__",)),
    Internal(IMAP4, "_simple_command", ("self", "name", "args")),
    Internal(IMAP4, "_command", ("self", "name", "args")),
    Internal(IMAP4, "_command_complete", ("self", "name", "tag")),
    Internal(IMAP4, "_untagged_response", ("self", "typ", "dat", "name")),
    Internal(IMAP4, "_quote", ("self", "arg")),
    Internal(IMAP4, "_encoding", assigned=True),
    Internal(IMAP4, "_new_tag", ("self",), called_from=("_command",)),
    Internal(IMAP4, "_create_socket", ("self", "timeout"), called_from=("open",)),
    Internal(imaplib.IMAP4_SSL, "_create_socket", ("self", "timeout")),
    Internal(imapclient.imap4.IMAP4WithTimeout, "_create_socket", ("self", "timeout")),
    Internal(imapclient.tls.IMAP4_TLS, "_create_socket", ("self", "timeout")),
    Internal(IMAP4, "_get_line", ("self",)),
    Internal(imapclient.imapclient, "_parse_untagged_response", ("text",)),
    Internal(
        imapclient.response_parser,
        "_convert_INTERNALDATE",
        ("date_string", "normalise_times"),
    ),
    # imap/compress.py shadows imaplib's documented reader and writer: every line, literal and
    # command must still go through them (imapclient's idle_check reads through _get_line).
    Internal(IMAP4, "readline", ("self",), called_from=("_get_line",)),
    Internal(IMAP4, "read", ("self", "size"), called_from=("_get_response",)),
    Internal(IMAP4, "send", ("self", "data"), called_from=("_command",)),
    Internal(IMAP4, "socket", ("self",)),
    # pop3_wire
    Internal(POP3, "_shortcmd", ("self", "line"), called_from=("user", "pass_", "stls")),
    Internal(POP3, "_putcmd", ("self", "line"), called_from=("_shortcmd",)),
    Internal(POP3, "_getresp", ("self",), called_from=("_shortcmd", "_getlongresp")),
    Internal(POP3, "_getline", ("self",), called_from=("_getresp", "_getlongresp")),
    Internal(POP3, "_getlongresp", ("self",), called_from=("_longcmd",)),
    Internal(POP3, "_create_socket", ("self", "timeout"), called_from=("__init__",)),
    Internal(poplib.POP3_SSL, "_create_socket", ("self", "timeout")),
    # smtp_wire
    Internal(PROTOCOL, "_command_lock", assigned=True),
    Internal(PROTOCOL, "_response_pending", assigned=True),
    Internal(PROTOCOL, "_drain_helper", ("self",), coroutine=True),
    Internal(
        smtplib.SMTP, "_get_socket", ("self", "host", "port", "timeout"), called_from=("connect",)
    ),
    Internal(smtplib.SMTP_SSL, "_get_socket", ("self", "host", "port", "timeout")),
)


def _methods_source(cls: type) -> Iterator[ast.AST]:
    """The parsed source of the class and of its library bases."""
    for klass in cls.__mro__:
        if klass is object or klass.__module__.split(".")[0] not in (*LIBRARIES, "asyncio"):
            continue
        yield ast.parse(textwrap.dedent(inspect.getsource(klass)))


def _assigned_on_self(cls: type) -> set[str]:
    names: set[str] = set()
    for tree in _methods_source(cls):
        for node in ast.walk(tree):
            targets: list[ast.expr] = []
            if isinstance(node, ast.Assign):
                targets = node.targets
            elif isinstance(node, ast.AnnAssign | ast.AugAssign):
                targets = [node.target]
            for target in targets:
                if (
                    isinstance(target, ast.Attribute)
                    and isinstance(target.value, ast.Name)
                    and target.value.id == "self"
                ):
                    names.add(target.attr)
    return names


def _calls_on_self(function: Callable[..., Any], name: str) -> bool:
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    return any(
        isinstance(node, ast.Attribute)
        and node.attr == name
        and isinstance(node.value, ast.Name)
        and node.value.id == "self"
        for node in ast.walk(tree)
    )


@pytest.mark.parametrize("internal", INTERNALS, ids=str)
def test_library_internal_keeps_its_shape(internal: Internal) -> None:
    """Each internal a wire module relies on exists with the parameters, the coroutine-ness
    and (for a hook) the callers the wire module expects."""
    where = f"{internal} (used by tuimail.sync's wire modules)"
    if internal.assigned:
        assert internal.name in _assigned_on_self(internal.owner), (
            f"{where}: the library no longer sets this attribute"
        )
        return
    found = inspect.getattr_static(internal.owner, internal.name, None)
    assert found is not None, f"{where}: gone from the library"
    function = getattr(internal.owner, internal.name)
    assert callable(function), f"{where}: no longer callable"
    if internal.parameters is not None:
        names = tuple(inspect.signature(function).parameters)
        assert names == internal.parameters, (
            f"{where}: parameters changed from {internal.parameters} to {names}"
        )
    assert inspect.iscoroutinefunction(function) is internal.coroutine, (
        f"{where}: {'no longer' if internal.coroutine else 'now'} a coroutine function"
    )
    for caller in internal.called_from:
        method = getattr(internal.owner, caller)
        assert _calls_on_self(method, internal.name), (
            f"{where}: {caller}() no longer calls it, so overriding or shadowing it no longer"
            " has the effect relied on"
        )


# --- no private name of the libraries outside the wire modules


@cache
def library_private_names() -> frozenset[str]:
    """Every private name of the libraries: module globals, class attributes along each
    library class's bases, and attributes their methods set on `self`."""
    names: set[str] = set()
    modules = [
        "imaplib",
        "poplib",
        "smtplib",
        "imapclient",
        "imapclient.imapclient",
        "imapclient.imap4",
        "imapclient.tls",
        "imapclient.response_parser",
        "imapclient.datetime_util",
        "aiosmtplib",
        "aiosmtplib.smtp",
        "aiosmtplib.protocol",
    ]
    for name in modules:
        module = importlib.import_module(name)
        for attribute, value in vars(module).items():
            if _private(attribute):
                names.add(attribute)
            if inspect.isclass(value) and value.__module__.split(".")[0] in LIBRARIES:
                for klass in value.__mro__:
                    if klass.__module__.split(".")[0] in LIBRARIES:
                        names.update(a for a in vars(klass) if _private(a))
                names.update(a for a in _assigned_on_self(value) if _private(a))
    return frozenset(names)


def _private(name: str) -> bool:
    # Not dunders, nor the sunders enum sets on every enum class (`_value2member_map_`).
    return name.startswith("_") and not name.endswith("_")


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    if isinstance(node, ast.Name):
        return node.id
    return ""


def private_uses(source: str, private: frozenset[str]) -> list[tuple[int, str]]:
    """(line, what) for each use of a library private name in a module's source.

    Flagged: `from <library> import _name`; `anything._name` on an object that is not the
    class's own `self`/`cls`/`super()`; and, inside a class tied to a library (one with a
    library class, a wire module's class or such a class among its bases, or a mixin used
    alongside one), `self._name`, `super()._name` and methods that override `_name`.
    """
    tree = ast.parse(source)
    bound_names: set[str] = set()  # local names that stand for a library or a wire module
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in LIBRARIES:
                    bound_names.add((alias.asname or alias.name).split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.module:
            top = node.module.split(".")[0]
            wire = node.module in WIRE_MODULES
            for alias in node.names:
                if top in LIBRARIES or wire or f"{node.module}.{alias.name}" in WIRE_MODULES:
                    bound_names.add(alias.asname or alias.name)
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.ImportFrom)
            and node.module
            and node.module.split(".")[0] in LIBRARIES
        ):
            found.extend(
                (node.lineno, f"imports {node.module}.{alias.name}")
                for alias in node.names
                if _private(alias.name)
            )
    classes = [node for node in ast.walk(tree) if isinstance(node, ast.ClassDef)]
    bound: set[str] = set()
    changed = True
    while changed:
        changed = False
        for cls in classes:
            if cls.name in bound:
                continue
            bases = [_dotted(base) for base in cls.bases]
            tied = any(b.split(".")[0] in bound_names or b in bound for b in bases)
            used_with_tied = any(
                cls.name in [_dotted(base) for base in other.bases] and other.name in bound
                for other in classes
            )
            if tied or used_with_tied:
                bound.add(cls.name)
                changed = True
    in_bound: set[int] = set()
    for cls in classes:
        if cls.name not in bound:
            continue
        for item in cls.body:
            if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and item.name in private:
                found.append((item.lineno, f"overrides {item.name}"))
        in_bound.update(id(node) for node in ast.walk(cls))
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute) or node.attr not in private:
            continue
        value = node.value
        own = (isinstance(value, ast.Name) and value.id in ("self", "cls")) or (
            isinstance(value, ast.Call) and _dotted(value.func) == "super"
        )
        if not own or id(node) in in_bound:
            found.append((node.lineno, f"uses {node.attr}"))
    return sorted(found)


def test_no_module_outside_the_wire_modules_uses_a_library_private_name() -> None:
    private = library_private_names()
    assert {"_imap", "_shortcmd", "_command_lock", "_get_socket"} <= private
    offenders = [
        f"{path.relative_to(PACKAGE.parent)}:{line}: {what}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts) not in WIRE_MODULES
        for line, what in private_uses(path.read_text(encoding="utf-8"), private)
    ]
    assert not offenders, (
        "library internals belong in tuimail/sync/{imap,pop3,smtp}/wire.py:\n"
        + "\n".join(offenders)
    )


def test_every_internal_the_wire_modules_use_is_checked() -> None:
    """A wire module that starts using another internal gets a line in INTERNALS too."""
    private = library_private_names()
    checked = {internal.name for internal in INTERNALS}
    unchecked = []
    for name in WIRE_MODULES:
        path = PACKAGE.parent.joinpath(*name.split(".")).with_suffix(".py")
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            used = None
            if isinstance(node, ast.Attribute) and node.attr in private:
                used = node.attr
            elif isinstance(node, ast.FunctionDef) and node.name in private:
                used = node.name
            elif isinstance(node, ast.ImportFrom):
                used = next((a.name for a in node.names if a.name in private), None)
            if used is not None and used not in checked:
                unchecked.append(f"{name}:{getattr(node, 'lineno', '?')}: {used}")
    assert not unchecked, "internals with no shape check in INTERNALS:\n" + "\n".join(unchecked)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import imaplib\ndef f(c):\n    return c._imap\n", [(3, "uses _imap")]),
        (
            "from imapclient.response_parser import _convert_INTERNALDATE\n",
            [(1, "imports imapclient.response_parser._convert_INTERNALDATE")],
        ),
        (
            "import poplib\nclass P(poplib.POP3):\n    def _getline(self):\n"
            "        return self._getresp()\n",
            [(3, "overrides _getline"), (4, "uses _getresp")],
        ),
        (
            "import poplib\nclass M:\n    def _create_socket(self, t):\n"
            "        return super()._create_socket(t)\nclass P(M, poplib.POP3):\n    pass\n",
            [(3, "overrides _create_socket"), (4, "uses _create_socket")],
        ),
        # A class of tuimail's own may have an attribute of the same name as a library's.
        ("class Own:\n    def __init__(self):\n        self._command = 1\n", []),
    ],
)
def test_the_scan_finds_each_kind_of_use(source: str, expected: list[tuple[int, str]]) -> None:
    assert private_uses(source, library_private_names()) == expected


def test_the_wire_hooks_reach_the_libraries() -> None:
    """The hook mixins route the libraries' private calls to the public names tuimail
    overrides (here without a network: the sockets are a pair)."""
    import socket

    from tuimail.sync.pop3.wire import Pop3Hooks

    ours, theirs = socket.socketpair()
    theirs.sendall(b"+OK ready\r\n")
    dialled: list[float] = []

    class Pop(Pop3Hooks, poplib.POP3):
        def open_socket(self, timeout: float) -> socket.socket:
            dialled.append(timeout)
            return ours

    try:
        pop = Pop("example.invalid", 110, timeout=5)
        assert dialled == [5]
        assert pop.getwelcome() == b"+OK ready"
        pop.close()
    finally:
        ours.close()
        theirs.close()
