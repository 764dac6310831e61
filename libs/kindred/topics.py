"""Every Kafka topic Kindred uses, declared once."""

from enum import StrEnum


class Topic(StrEnum):
    USER_PROFILE_UPDATED = "user.profile.updated"
    USER_DELETED = "user.deleted"
    USER_SUSPENDED = "user.suspended"
    USER_REINSTATED = "user.reinstated"
    USER_DEVICE_REGISTERED = "user.device.registered"
    USER_DEVICE_REMOVED = "user.device.removed"
    QUEUE_MATCH_CREATED = "queue.match.created"
    QUEUE_MATCH_CANCELLED = "queue.match.cancelled"
    QUEUE_ENTRY_JOINED = "queue.entry.joined"
    CONVERSATION_CREATED = "conversation.created"
    MESSAGE_SENT = "message.sent"
    NOTIFICATION_CREATED = "notification.created"
    NOTIFICATION_DEVICE_UNREGISTERED = "notification.device.unregistered"
    INTERACTION_RECORDED = "interaction.recorded"
    INTERACTION_CONNECTED = "interaction.connected"
    MODERATION_ACTION_TAKEN = "moderation.action.taken"
    MODERATION_APPEAL_DECIDED = "moderation.appeal.decided"
    MODERATION_REPORT_FILED = "moderation.report.filed"
    SUBSCRIPTION_CHANGED = "subscription.changed"

    @property
    def dead_letter(self) -> str:
        """The topic where messages that keep failing on this topic are parked."""
        return dead_letter_topic(self.value)


def dead_letter_topic(topic: str) -> str:
    return f"{topic}.dlq"


def all_topic_names() -> list[str]:
    """Every topic and its dead-letter topic, for creating them up front."""
    return [name for topic in Topic for name in (topic.value, topic.dead_letter)]
