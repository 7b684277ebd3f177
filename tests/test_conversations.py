"""Whole conversations through the graph on the demo bot: intents, slots, clarification,
confirmation (interrupt/resume), refusals, approvals and identity — offline path."""

from __future__ import annotations

from decimal import Decimal

from sqlmodel import Session, select

from agents import prompts
from agents.act import parse_address
from conftest import ShopAgent
from tools.shop.models import Customer, Order, Refund


def _refunds(shop: ShopAgent, number: str) -> list[Refund]:
    with Session(shop.engine) as session:
        order = session.exec(select(Order).where(Order.number == number)).one()
        return list(session.exec(select(Refund).where(Refund.order_id == order.id)))


def test_an_action_without_its_order_number_asks_for_it_then_remembers(
        shop_agent: ShopAgent) -> None:
    agent = shop_agent.agent
    first = agent.ask("I'd like to cancel my order please", customer_id="cus_001")
    assert first.intent["label"] == "cancel_order"
    assert first.intent["missing_slots"] == ["order_number"]
    # Signed in with two orders that can still be cancelled: both are offered.
    assert "Which order" in first.reply and "CL-100118" in first.reply
    second = agent.ask("it's CL-100118", first.conversation_id, customer_id="cus_001")
    assert second.intent["label"] == "cancel_order" and second.intent["source"] == "pending"
    assert second.awaiting_confirmation and "CL-100118" in second.reply


def test_a_refund_is_confirmed_then_executed_once(shop_agent: ShopAgent) -> None:
    agent = shop_agent.agent
    ask = agent.ask("I want a refund for order CL-100101, the lamp is not what I expected",
                    customer_id="cus_001")
    assert ask.awaiting_confirmation and "(yes / no)" in ask.reply
    assert _refunds(shop_agent, "CL-100101") == []
    done = agent.ask("yes", ask.conversation_id, customer_id="cus_001")
    assert done.action and done.action["status"] == "executed"
    refunds = _refunds(shop_agent, "CL-100101")
    assert refunds and sum((r.amount for r in refunds), Decimal(0)) > 0
    assert "refunded" in done.reply
    again = agent.ask("yes", ask.conversation_id, customer_id="cus_001")
    assert len(_refunds(shop_agent, "CL-100101")) == len(refunds)
    assert not again.awaiting_confirmation


def test_saying_no_cancels_cleanly(shop_agent: ShopAgent) -> None:
    agent = shop_agent.agent
    ask = agent.ask("Please cancel order CL-100118", customer_id="cus_001")
    assert ask.awaiting_confirmation
    no = agent.ask("no", ask.conversation_id, customer_id="cus_001")
    assert no.action and no.action["status"] == "declined"
    assert "haven't changed anything" in no.reply
    with Session(shop_agent.engine) as session:
        order = session.exec(select(Order).where(Order.number == "CL-100118")).one()
    assert order.status == "paid"


def test_a_policy_refusal_explains_the_reason_in_french(shop_agent: ShopAgent) -> None:
    result = shop_agent.agent.ask("Je voudrais annuler la commande CL-100117",
                                  customer_id="cus_002")
    assert result.language == "fr"
    assert result.action and result.action["code"] == "cannot_cancel_shipped"
    assert "déjà expédiée" in result.reply and not result.awaiting_confirmation


def test_someone_elses_order_is_refused_without_revealing_anything(
        shop_agent: ShopAgent) -> None:
    result = shop_agent.agent.ask("Refund order CL-100111 now", customer_id="cus_001")
    assert result.action and result.action["code"] == "not_found"
    assert "678" not in result.reply and "Hannah" not in result.reply
    assert _refunds(shop_agent, "CL-100111") == []


def test_an_anonymous_visitor_proves_the_order_with_its_email(shop_agent: ShopAgent) -> None:
    agent = shop_agent.agent
    first = agent.ask("where is my order CL-100117?")
    assert first.intent["missing_slots"] == ["email"], (first.intent, first.action, first.reply)
    wrong = agent.ask("it's someone@example.com", first.conversation_id)
    assert wrong.action and wrong.action["code"] == "not_found"
    again = agent.ask("where is my order CL-100117? my email is thomas.bernard@example.fr",
                      first.conversation_id)
    assert again.action and again.action["status"] == "executed"
    assert "on its way" in again.reply


def test_a_large_refund_waits_for_a_human_and_the_customer_is_told(
        shop_agent: ShopAgent) -> None:
    agent = shop_agent.agent
    ask = agent.ask("I want my money back for order CL-100111", customer_id="cus_008")
    assert ask.awaiting_confirmation
    waiting = agent.ask("yes", ask.conversation_id, customer_id="cus_008")
    assert waiting.action and waiting.action["status"] == "pending_approval"
    assert "review" in waiting.reply and _refunds(shop_agent, "CL-100111") == []
    approval = shop_agent.actions.list_approvals()[0]
    outcome = shop_agent.actions.decide_approval(approval["approval_id"], True, "agent@shop")
    told = agent.notify(ask.conversation_id, {"status": outcome.status, "code": outcome.code,
                                              "result": outcome.result})
    assert "approved" in told.reply
    assert _refunds(shop_agent, "CL-100111")
    history = agent.history(ask.conversation_id)
    assert history[-1]["text"] == told.reply


def test_out_of_scope_never_reaches_an_action(shop_agent: ShopAgent) -> None:
    result = shop_agent.agent.ask("Can you write me a python script to sort a list?",
                                  customer_id="cus_001")
    assert result.intent["route"] == "out_of_scope"
    assert result.action is None and not result.awaiting_confirmation
    assert "can't help with that" in result.reply


def test_a_question_intent_is_answered_from_the_knowledge_base(shop_agent: ShopAgent) -> None:
    result = shop_agent.agent.ask("how long is your return window?")
    assert result.intent["route"] == "answer" and result.citations
    assert "30 days" in result.reply


def test_asking_for_a_human_opens_a_handoff_ticket(shop_agent: ShopAgent) -> None:
    from tools.records import Ticket

    result = shop_agent.agent.ask("I want to talk to a real person please", customer_id="cus_001")
    assert result.intent["route"] == "handoff" and result.handoff_offered
    with Session(shop_agent.engine) as session:
        tickets = session.exec(select(Ticket).where(
            Ticket.conversation_id == result.conversation_id)).all()
    assert [t.kind for t in tickets] == ["handoff"]


def test_a_follow_up_acts_on_the_order_the_customer_just_named(shop_agent: ShopAgent) -> None:
    agent = shop_agent.agent
    first = agent.ask("where is my order CL-100117?")
    status = agent.ask("thomas.bernard@example.fr", first.conversation_id)
    assert "on its way (shipped " in status.reply
    follow = agent.ask("ok and when will it arrive?", first.conversation_id)
    assert follow.intent["slots"]["order_number"] == "CL-100117"
    assert follow.action and follow.action["status"] == "executed"
    assert "CL-100117" in follow.reply and "order number" not in follow.reply
    move = agent.ask("can I change the delivery address?", first.conversation_id)
    assert move.intent["missing_slots"] == ["address"]
    # A street address is in its country's language, not the customer's.
    moved = agent.ask("12 rue de la Paix, 75002 Paris", first.conversation_id)
    assert moved.language == "en"
    assert moved.action and moved.action["tool"] == "update_shipping_address"
    assert moved.action["args"]["order_number"] == "CL-100117"
    other = agent.ask("and where is order CL-100101?", first.conversation_id)
    assert other.intent["slots"]["order_number"] == "CL-100101"
    assert other.intent["missing_slots"] == ["email"]


def test_a_new_conversation_does_not_inherit_an_order(shop_agent: ShopAgent) -> None:
    agent = shop_agent.agent
    agent.ask("where is my order CL-100117? my email is thomas.bernard@example.fr")
    fresh = agent.ask("where is my order?")
    assert fresh.intent["missing_slots"] == ["order_number"] and fresh.action is None


def test_an_anonymous_customer_names_an_item_of_the_order_in_french(
        shop_agent: ShopAgent) -> None:
    agent = shop_agent.agent
    first = agent.ask("Bonjour, où en est ma commande CL-100101 ?")
    status = agent.ask("camille.martin@example.fr", first.conversation_id)
    assert status.language == "fr" and "livrée (le " in status.reply
    refund = agent.ask("je voudrais me faire rembourser la housse de couette",
                       first.conversation_id)
    assert refund.intent["slots"]["item"] == "Linen duvet cover 240x220"
    assert refund.awaiting_confirmation and refund.action
    assert [n.lower() for n in refund.action["args"]["item_names"]] == [
        "linen duvet cover 240x220"]
    assert "pillowcases" not in refund.reply
    # The bot config's French product names, not the shop's English ones.
    assert "Housse de couette en lin 240x220" in refund.reply and "Linen" not in refund.reply
    assert "Articles : Housse de couette en lin 240x220, Taies d'oreiller en lin 50x75 " \
        "(paire). Total : 158.00 EUR." in status.reply


def test_yes_to_the_offer_of_a_human_hands_the_conversation_over(
        shop_agent: ShopAgent) -> None:
    from tools.records import Ticket

    agent = shop_agent.agent
    offer = agent.ask("Do you sell bicycles?")
    assert offer.handoff_offered and not offer.answered
    assert [q["text"] for q in offer.quick_replies] == ["Yes, connect me", "No thanks"]
    yes = agent.ask("yes please", offer.conversation_id)
    assert yes.intent["route"] == "handoff" and yes.action
    assert yes.action["tool"] == "handoff_to_human"
    with Session(shop_agent.engine) as session:
        tickets = session.exec(select(Ticket).where(
            Ticket.conversation_id == offer.conversation_id)).all()
    assert [t.kind for t in tickets] == ["handoff"]
    offer_fr = agent.ask("Vous vendez des vélos ?")
    oui = agent.ask("oui", offer_fr.conversation_id)
    assert oui.language == "fr" and oui.intent["route"] == "handoff"
    assert yes.quick_replies == [] and oui.quick_replies == []
    again = agent.ask("Vous vendez des vélos ?")
    button = again.quick_replies[0]["text"]
    assert button == prompts.text("offer_yes", "fr")
    assert agent.ask(button, again.conversation_id).intent["route"] == "handoff"


def test_no_to_an_offer_or_to_anything_else_is_understood(shop_agent: ShopAgent) -> None:
    agent = shop_agent.agent
    offer = agent.ask("Do you sell bicycles?")
    no = agent.ask("no thanks", offer.conversation_id)
    assert no.intent["route"] == "smalltalk" and no.action is None
    assert no.reply == prompts.text("anything_else", "en")
    thanks = agent.ask("great, thanks", offer.conversation_id)
    done = agent.ask("no", thanks.conversation_id)
    assert done.reply == prompts.text("goodbye", "en", company="Cedar Lane Goods")
    # A bare "oui" opening a conversation is neither a greeting nor a goodbye.
    bare = agent.ask("oui")
    assert bare.language == "fr" and bare.reply == prompts.text("anything_else", "fr")
    merci = agent.ask("merci")
    assert merci.language == "fr"


def test_a_signed_in_customer_picks_an_order_from_their_own_list(shop_agent: ShopAgent) -> None:
    agent = shop_agent.agent
    first = agent.ask("where is my order?", customer_id="cus_001")
    assert first.action is None and "Which order" in first.reply
    offered = [line.split()[1].rstrip(",") for line in first.reply.splitlines()
               if line[:1].isdigit()]
    assert len(offered) >= 2 and all(n.startswith("CL-") for n in offered)
    second = agent.ask("the second one", first.conversation_id, customer_id="cus_001")
    assert second.action and second.action["status"] == "executed"
    assert second.action["args"]["order_number"] == offered[1]
    assert offered[1] in second.reply


def test_the_only_order_that_fits_is_taken_without_asking(shop_agent: ShopAgent) -> None:
    with Session(shop_agent.engine) as session:
        orders = session.exec(select(Order).join(Customer).where(
            Customer.external_id == "cus_003")).all()
    on_the_way = [o.number for o in orders if o.status in {"pending", "paid", "shipped"}]
    assert len(on_the_way) == 1 and len(orders) > 1
    result = shop_agent.agent.ask("where's my stuff", customer_id="cus_003")
    assert result.action and result.action["args"]["order_number"] == on_the_way[0]
    assert on_the_way[0] in result.reply


def test_an_item_named_in_the_answer_picks_the_order_holding_it(shop_agent: ShopAgent) -> None:
    agent = shop_agent.agent
    first = agent.ask("I want a refund", customer_id="cus_001")
    assert "Which order" in first.reply and "CL-100101" in first.reply
    picked = agent.ask("the pillowcases", first.conversation_id, customer_id="cus_001")
    assert picked.action and picked.action["args"]["order_number"] == "CL-100101"
    assert picked.awaiting_confirmation


def test_an_answer_that_gives_no_order_is_asked_again_and_can_be_dropped(
        shop_agent: ShopAgent) -> None:
    agent = shop_agent.agent
    first = agent.ask("I want a refund")
    assert first.intent["missing_slots"] == ["order_number"]
    again = agent.ask("the candle", first.conversation_id)
    assert again.intent["label"] == "refund_request" and again.action is None
    assert again.reply.startswith(prompts.text("not_understood", "en"))
    assert "order number" in again.reply
    dropped = agent.ask("never mind", first.conversation_id)
    assert dropped.reply == prompts.text("anything_else", "en") and dropped.action is None
    later = agent.ask("CL-100101", first.conversation_id)
    assert later.intent["source"] != "pending" and not later.awaiting_confirmation


def test_a_late_parcel_report_shows_the_order_status_to_its_owner_only(
        shop_agent: ShopAgent) -> None:
    agent = shop_agent.agent
    with Session(shop_agent.engine) as session:
        orders = session.exec(select(Order).join(Customer).where(
            Customer.external_id == "cus_003")).all()
    (open_order,) = [o.number for o in orders if o.status in {"pending", "paid", "shipped"}]
    signed_in = agent.ask("je n'ai toujours pas reçu ma commande", customer_id="cus_003")
    assert signed_in.intent["label"] == "delivery_problem"
    assert signed_in.reply.startswith(f"La commande {open_order} est ")
    assert signed_in.action and signed_in.action["tool"] == "get_order_status"
    # A guest who only names the order sees the help centre, not the order.
    guest = agent.ask("my parcel CL-100117 hasn't moved in 10 days")
    assert guest.intent["label"] == "delivery_problem" and guest.action is None
    assert "CL-100117 is" not in guest.reply and guest.citations
    # Once the guest proved it with the email, the same report shows its status.
    agent.ask("where is it? my email is thomas.bernard@example.fr", guest.conversation_id)
    proven = agent.ask("tracking hasn't updated for a week", guest.conversation_id)
    assert proven.reply.startswith("Order CL-100117 is on its way")


def test_a_guest_learns_nothing_of_an_order_it_only_named(shop_agent: ShopAgent) -> None:
    result = shop_agent.agent.ask("refund the duvet cover from order CL-100101 please")
    assert result.intent["missing_slots"] == ["email"]
    assert "item" not in result.intent["slots"]
    assert "Linen" not in result.reply and "duvet" not in str(result.intent).lower()


def test_an_item_named_before_the_guest_proved_the_order_is_refunded_alone(
        shop_agent: ShopAgent) -> None:
    agent = shop_agent.agent
    first = agent.ask("refund the duvet cover from order CL-100101 please, it arrived torn")
    assert first.intent["missing_slots"] == ["email"]
    proven = agent.ask("camille.martin@example.fr", first.conversation_id)
    assert proven.awaiting_confirmation and proven.action
    assert [n.lower() for n in proven.action["args"]["item_names"]] == [
        "linen duvet cover 240x220"]
    assert "pillowcases" not in proven.reply.lower()
    # The refund's reason is the request, not the email address that answered a question.
    assert proven.action["args"]["reason"].startswith("refund the duvet cover")


def test_the_reason_of_an_order_picked_from_a_list_is_the_request(
        shop_agent: ShopAgent) -> None:
    agent = shop_agent.agent
    first = agent.ask("I'd like to cancel my order please, I ordered it twice by mistake",
                      customer_id="cus_001")
    assert first.intent["missing_slots"] == ["order_number"]
    picked = agent.ask("CL-100118", first.conversation_id, customer_id="cus_001")
    assert picked.awaiting_confirmation and picked.action
    assert "twice by mistake" in picked.action["args"]["reason"]


def test_a_guest_reporting_a_late_parcel_is_offered_its_status(shop_agent: ShopAgent) -> None:
    agent = shop_agent.agent
    named = agent.ask("my parcel CL-100117 hasn't moved in 10 days")
    assert named.intent["label"] == "delivery_problem" and named.citations
    assert named.reply.endswith(prompts.text("check_email", "en", order="CL-100117"))
    assert named.action is None and "on its way" not in named.reply
    wrong = agent.ask("someone@example.com", named.conversation_id)
    assert wrong.action and wrong.action["code"] == "not_found"
    assert "on its way" not in wrong.reply
    # Without a number the offer asks for it first, then for the email address.
    unnamed = agent.ask("my parcel still hasn't arrived")
    assert unnamed.reply.endswith(prompts.text("check_order_number", "en"))
    number = agent.ask("CL-100117", unnamed.conversation_id)
    assert number.intent["missing_slots"] == ["email"] and number.action is None
    status = agent.ask("thomas.bernard@example.fr", unnamed.conversation_id)
    assert status.action and status.action["tool"] == "get_order_status"
    assert status.reply.startswith("Order CL-100117 is on its way")
    # A signed-in customer is never asked: their order is looked up.
    owner = agent.ask("my parcel still hasn't arrived", customer_id="cus_002")
    assert prompts.text("check_order_number", "en") not in owner.reply


def test_an_order_number_does_not_steer_the_help_centre_search(shop_agent: ShopAgent) -> None:
    agent = shop_agent.agent
    plain = agent.ask("my order still hasn't arrived")
    numbered = agent.ask("my order CL-100117 still hasn't arrived")
    # Unmasked, the number drew the passages that show an example order number
    # ("your order number (for example CL-100123)").
    assert [p["chunk_id"] for p in numbered.passages] == [p["chunk_id"] for p in plain.passages]
    assert "CL-1001" not in "".join(c["quote"] for c in numbered.citations)


def test_an_order_status_says_what_the_order_holds_and_what_was_paid(
        shop_agent: ShopAgent) -> None:
    agent = shop_agent.agent
    paid = agent.ask("how much did I pay for order CL-100101?", customer_id="cus_001")
    assert paid.action and paid.action["tool"] == "get_order_status"
    assert paid.reply.endswith("Items: Linen duvet cover 240x220, Linen pillowcases 50x75 "
                               "(pair). Total: 158.00 EUR.")
    refund = agent.ask("refund the pillowcases from CL-100101", customer_id="cus_001")
    assert refund.awaiting_confirmation
    agent.ask("yes", refund.conversation_id, customer_id="cus_001")
    again = agent.ask("où en est ma commande CL-100101 ?", customer_id="cus_001")
    assert "Total : 158.00 EUR, dont 39.00 EUR remboursés." in again.reply, again.reply


def test_a_foreign_address_with_a_trailing_word_is_refused_not_misread(
        shop_agent: ShopAgent) -> None:
    # "..., United Kingdom instead?" once parsed as a French address ending in "instead",
    # which passed the same-country rule and proposed a wrong change.
    result = shop_agent.agent.ask("Can you send order CL-100118 to 5 Baker Street, London "
                                  "NW1 6XE, United Kingdom instead?", customer_id="cus_001")
    assert result.action and result.action["code"] == "address_country_change"
    assert not result.awaiting_confirmation
    assert parse_address("8 rue Neuve, 1000 Bruxelles, Belgique plutôt s'il vous plaît") == {
        "line1": "8 rue Neuve", "postal_code": "1000", "city": "Bruxelles", "country": "BE"}


def test_my_last_order_is_the_newest_and_a_refusal_names_it(shop_agent: ShopAgent) -> None:
    agent = shop_agent.agent
    with Session(shop_agent.engine) as session:
        orders = session.exec(select(Order).join(Customer).where(
            Customer.external_id == "cus_001")).all()
    newest = max(orders, key=lambda o: (o.created_at, o.id))
    cancel = agent.ask("please cancel my last order", customer_id="cus_001")
    assert cancel.action and cancel.action["args"]["order_number"] == newest.number
    refund = agent.ask("je veux être remboursé de ma dernière commande", customer_id="cus_001")
    assert refund.action and refund.action["code"] == "not_delivered"
    assert refund.reply.startswith(f"La commande {newest.number} n'a pas encore été livrée")


def test_a_french_customer_chooses_among_orders_named_in_french(shop_agent: ShopAgent) -> None:
    result = shop_agent.agent.ask("je voudrais annuler une commande", customer_id="cus_001")
    assert result.reply.startswith("De quelle commande s'agit-il ?")
    assert "Barbecue à charbon 57 cm" in result.reply and "Kettle" not in result.reply
    assert any("Barbecue" in q["label"] for q in result.quick_replies), result.quick_replies


def test_asking_for_a_person_about_an_order_is_handed_over(shop_agent: ShopAgent) -> None:
    agent = shop_agent.agent
    result = agent.ask("Hello I'd like to speak to someone about my order CL-100101 please")
    # The order number had made it an order status question that asked for the email.
    assert result.intent["route"] == "handoff" and result.intent["label"] == "talk_to_human"
    assert result.action and result.action["tool"] == "handoff_to_human"
    told = agent.ask("I talked to your agent last week about a refund for CL-100101")
    assert told.intent["source"] != "asks_for_human"
    no_bot = agent.ask("I don't want to talk to a bot, my parcel is lost")
    assert no_bot.intent["route"] == "handoff"


def test_an_offer_the_guest_does_not_take_up_is_not_asked_again(shop_agent: ShopAgent) -> None:
    agent = shop_agent.agent
    offered = agent.ask("my parcel still hasn't arrived")
    assert offered.reply.endswith(prompts.text("check_order_number", "en"))
    accepted = agent.ask("ok", offered.conversation_id)
    # "ok" takes the offer up: the number is asked for plainly, not "didn't catch that".
    assert accepted.reply == prompts.ask_for_slot("order_number", "en")
    again = agent.ask("my parcel still hasn't arrived")
    other = agent.ask("do you ship to Switzerland?", again.conversation_id)
    assert other.answered and prompts.text("not_understood", "en") not in other.reply


def test_an_item_the_order_does_not_hold_is_named_and_its_items_offered(
        shop_agent: ShopAgent) -> None:
    """cus_021's lamp is in CL-100114, not CL-100113: nothing is proposed, the order's
    items are listed, and the answer (one of them, another order, or the whole order)
    carries the refund on."""
    agent = shop_agent.agent
    holds = ("Burr coffee grinder", "Enamel cast-iron casserole 28 cm", "Chef's knife 20 cm",
             "Stoneware mugs (set of 4)")
    replies = {}
    for answer in ("the coffee grinder", "CL-100114", "the whole order then"):
        first = agent.ask("refund the oak lamp from CL-100113", customer_id="cus_021")
        assert first.action and first.action["code"] == "invalid_arguments"
        assert not first.awaiting_confirmation
        assert first.reply.startswith("Order CL-100113 doesn't include Oak table lamp: it has")
        assert all(name in first.reply for name in holds)
        replies[answer] = agent.ask(answer, first.conversation_id, customer_id="cus_021")
    grinder = replies["the coffee grinder"]
    assert grinder.awaiting_confirmation and grinder.action
    assert grinder.action["args"]["order_number"] == "CL-100113"
    assert "Burr coffee grinder" in grinder.reply and "Chef's knife" not in grinder.reply
    other = replies["CL-100114"]
    assert other.awaiting_confirmation and other.action
    assert other.action["args"]["order_number"] == "CL-100114"
    assert "Oak table lamp" in other.reply and "Merino" not in other.reply
    whole = replies["the whole order then"]
    assert whole.awaiting_confirmation and all(name in whole.reply for name in holds)
    assert "doesn't include" not in whole.reply
    assert _refunds(shop_agent, "CL-100113") == _refunds(shop_agent, "CL-100114") == []


def test_the_item_missing_from_an_order_is_named_in_french(shop_agent: ShopAgent) -> None:
    agent = shop_agent.agent
    first = agent.ask("rembourse la lampe de la commande CL-100113", customer_id="cus_021")
    assert first.reply.startswith(
        "La commande CL-100113 ne contient pas « Lampe de table en chêne » : elle contient "
        "Moulin à café à meules,")
    mugs = agent.ask("les mugs", first.conversation_id, customer_id="cus_021")
    assert mugs.awaiting_confirmation and "Mugs en grès (lot de 4)" in mugs.reply
    assert "Moulin" not in mugs.reply


def test_a_product_the_order_does_not_hold_is_said_before_the_whole_order_is_proposed(
        shop_agent: ShopAgent) -> None:
    """The candle is in none of cus_001's orders: the whole-order proposal (the customer
    may have meant it, "the candle" may be a word that looks like a product) says so."""
    agent = shop_agent.agent
    named = agent.ask("I want a refund for the candle from CL-100101", customer_id="cus_001")
    assert named.awaiting_confirmation
    assert named.reply.startswith("Order CL-100101 doesn't include Cedarwood scented candle. "
                                  "I can refund 158.00 EUR")
    french = agent.ask("rembourse-moi la bougie de la commande CL-100101",
                       customer_id="cus_001")
    assert french.reply.startswith("La commande CL-100101 ne contient pas « Bougie parfumée "
                                   "bois de cèdre ». Je peux rembourser")
    held = agent.ask("I want a refund for the pillowcases from CL-100101",
                     customer_id="cus_001")
    assert held.awaiting_confirmation and "doesn't include" not in held.reply
    which = agent.ask("refund the scented candle please", customer_id="cus_001")
    assert which.reply.startswith("I can't find Cedarwood scented candle in your recent "
                                  "orders. Which order is it about?")
    plain = agent.ask("I want a refund", customer_id="cus_001")
    assert plain.reply.startswith("Which order is it about?")


def test_a_cancel_naming_one_item_says_it_cancels_the_whole_order(
        shop_agent: ShopAgent) -> None:
    agent = shop_agent.agent
    one = agent.ask("cancel the barbecue from CL-100118 please", customer_id="cus_001")
    assert one.awaiting_confirmation
    assert one.reply.startswith("A cancellation is for the whole order;")
    assert "Folding camp chair" in one.reply
    french = agent.ask("annule la chaise de camping de la commande CL-100118",
                       customer_id="cus_001")
    assert french.reply.startswith("Une annulation porte sur la commande entière")
    absent = agent.ask("can you cancel the candle from my order CL-100118?",
                       customer_id="cus_001")
    assert absent.reply.startswith("Order CL-100118 doesn't include Cedarwood scented candle.")
    plain = agent.ask("cancel CL-100118", customer_id="cus_001")
    assert plain.reply.startswith("Cancel order CL-100118")
    with Session(shop_agent.engine) as session:
        order = session.exec(select(Order).where(Order.number == "CL-100118")).one()
    assert order.status == "paid"


def test_a_customer_waiting_for_a_refund_is_shown_what_was_refunded_not_offered_another(
        shop_agent: ShopAgent) -> None:
    """cus_005's CL-100110 was refunded in full: "my refund hasn't arrived yet" picks it
    (the only order with a refund) and shows its status, never a new refund."""
    agent = shop_agent.agent
    before = _refunds(shop_agent, "CL-100110")
    waiting = agent.ask("my refund hasn't arrived yet", customer_id="cus_005")
    assert waiting.action and waiting.action["tool"] == "get_order_status"
    assert waiting.action["args"]["order_number"] == "CL-100110"
    assert "of which 105.90 EUR refunded" in waiting.reply
    assert waiting.reply.endswith("your bank may take 3–10 business days to show it.")
    assert not waiting.awaiting_confirmation
    french = agent.ask("où en est mon remboursement ?", customer_id="cus_005")
    assert "dont 105.90 EUR remboursés" in french.reply and "3 à 10 jours" in french.reply
    # Nothing refunded on CL-100101 yet: said so, and how a refund is asked for.
    none = agent.ask("I still haven't received my refund for CL-100101",
                     customer_id="cus_001")
    assert none.action and none.action["tool"] == "get_order_status"
    assert "No refund has been issued on this order yet." in none.reply
    assert not none.awaiting_confirmation and _refunds(shop_agent, "CL-100101") == []
    # Asking for one is still asking for one.
    asked = agent.ask("I want a refund for CL-100101", customer_id="cus_001")
    assert asked.awaiting_confirmation
    assert _refunds(shop_agent, "CL-100110") == before


def test_an_order_already_refunded_says_how_much(shop_agent: ShopAgent) -> None:
    agent = shop_agent.agent
    whole = agent.ask("refund CL-100110 please", customer_id="cus_005")
    assert whole.action and whole.action["code"] == "already_refunded"
    assert whole.reply.startswith("Order CL-100110 has already been refunded (105.90 EUR in all).")
    item = agent.ask("refund the merino jumper from CL-100109", customer_id="cus_020")
    assert item.reply.startswith("Merino crew-neck jumper: already refunded (89.00 EUR")
