"""Reading a whole conversation: the main screen's side of the conversation reader
(widgets/conversation.py): showing the conversation the list asked for, marking it read, and
the list's cursor following the message read."""

from __future__ import annotations

from tuimail.store import ops, read
from tuimail.ui.screens.message_actions import MessageActions
from tuimail.ui.screens.reading import ListReading
from tuimail.ui.widgets.conversation import ConversationRead, ConversationWanted
from tuimail.ui.widgets.message_list import MessageList
from tuimail.ui.widgets.message_view import MessageView


class ConversationReading(ListReading):
    """The main screen's handling of the conversation reader (see the module)."""

    actions: MessageActions

    def show_view(self) -> None:
        """Show the message view if it was off (the main screen's)."""
        raise NotImplementedError

    # Handlers by name, not `@on`: this class is a part of the main screen, and Textual reads
    # `@on` only from the screen's own classes (those made by its metaclass).
    def on_conversation_wanted(self, event: ConversationWanted) -> None:
        view = self.query_one(MessageView)
        view.show_conversation(event.message_ids)
        # Shown is read, as an opened message is (not undoable, as opening is not).
        shown = view.conversation.ids
        unread = read.unread_among(self.conn, shown)
        if unread:
            ids = [i for i in shown if i in unread]
            self.actions.act_on(ops.OpKind.SEEN, ids, "the conversation", undoable=False)
        self.show_view()
        view.focus()

    def action_next_message(self, step: int) -> None:
        """In a conversation shown: its next (step 1) or previous (-1) message, brought to the
        top of the view (the list's cursor follows); past its ends, the list's next one."""
        view = self.query_one(MessageView)
        ids = view.conversation.ids
        reading = view.conversation.reading()
        if ids and reading in ids and 0 <= ids.index(reading) + step < len(ids):
            target = ids[ids.index(reading) + step]
            self.query_one(MessageList).select_id(target)
            view.conversation.follow(target)
            return
        super().action_next_message(step)

    def on_conversation_read(self, event: ConversationRead) -> None:
        self.query_one(MessageList).select_id(event.message_id)
