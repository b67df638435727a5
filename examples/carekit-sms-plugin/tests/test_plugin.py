"""The plugin's own tests, with the helpers carekit gives plugin authors."""

import carekit_sms_plugin

from carekit.testing import deliver, make_carekit, owed_touchpoint, sent_keys


def test_a_retry_after_a_crash_does_not_text_twice() -> None:
    kit = make_carekit(carekit_sms_plugin)
    shipped = owed_touchpoint("shipped_with_tracking", data={"tracking_number": "1Z999"},
                              customer_id="c-7", version=5)
    notes = sent_keys(channel="sms_gateway")  # the journey store's notes, as a worker has them
    before = len(carekit_sms_plugin.GATEWAY)
    first = deliver(kit, shipped, channel="sms_gateway", sent_keys=notes)
    again = deliver(kit, shipped, channel="sms_gateway", sent_keys=notes)
    assert first.delivered and again.reference == first.reference
    texts = carekit_sms_plugin.GATEWAY[before:]
    assert [t["text"] for t in texts] == ["Shipped with tracking (tracking number 1Z999)"]


def test_other_channels_are_left_to_other_plugins() -> None:
    kit = make_carekit(carekit_sms_plugin)
    assert deliver(kit, owed_touchpoint("order_thanks"), channel="email") is None
