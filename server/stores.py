"""A merchant's stores: where its devices stand and its static codes hang. The one way the CLI, the
console, the ops API and the tests keep them.

A store has a name (unique within its merchant: payers and staff tell shops apart by it), an address, and
a place: the Wi-Fi access points and cell areas its devices reported there, which anti-switching holds
every device of the store to (server/devices/anti_switching.py). A store is closed, never deleted (orders
name it); it closes only once no device is placed there and no code is bound to it.
"""
from __future__ import annotations

from .clock import now_ms
from .params import is_text
from .refusals import N_, Refused
from .storage import NotFound, Storage, Store
from .storage.places import PlaceRefused, StoreView
from .storage.records import MERCHANT_CLOSED

NAME_MAX = 64
ADDRESS_MAX = 200
_REFUSALS = {
    "store_unknown": N_("no store %(store)s at this merchant"),
    "store_closed": N_("store %(store)s is closed"),
    "store_name_taken": N_("merchant %(merchant)s already has a store called %(name)s"),
    "store_occupied": N_("the store still has %(devices)d devices and %(codes)d bound codes: move or return them "
                         "first"),
}


class StoreRefused(Refused):
    pass


def refused(refusal: PlaceRefused) -> StoreRefused:
    """What storage refused about a store, in words."""
    return StoreRefused(_REFUSALS[refusal.reason], **refusal.values)


def check_name(name: str | None) -> str:
    name = (name or "").strip()
    if not 1 <= len(name) <= NAME_MAX or not is_text(name, NAME_MAX):
        raise StoreRefused(N_("a store name is 1 to %(max)d characters of text"), max=NAME_MAX)
    return name


def check_address(address: str | None) -> str:
    address = (address or "").strip()
    if address and not is_text(address, ADDRESS_MAX):
        raise StoreRefused(N_("an address is at most %(max)d characters of text"), max=ADDRESS_MAX)
    return address


async def add(storage: Storage, merchant_id: str, name: str, *, address: str = "", actor: str) -> Store:
    name, address = check_name(name), check_address(address)
    merchant = await storage.get_merchant(merchant_id)
    if merchant is None:
        raise NotFound(f"no merchant {merchant_id}")
    if merchant.status == MERCHANT_CLOSED:
        raise StoreRefused(N_("merchant %(merchant)s is closed"), merchant=merchant_id)
    store = await storage.add_store(merchant_id, name, address, actor=actor, now=now_ms())
    if store is None:
        raise StoreRefused(_REFUSALS["store_name_taken"], merchant=merchant_id, name=name)
    return store


async def get(storage: Storage, store_id: str, *, visible_to: str | None = None) -> Store | None:
    """The store; None when there is none or it is not `visible_to`'s merchant's (None: an operator)."""
    store = await storage.get_store(store_id)
    if store is None or (visible_to is not None and store.merchant_id != visible_to):
        return None
    return store


async def list_stores(storage: Storage, merchant_id: str | None = None) -> list[StoreView]:
    """Every store (operators) or one merchant's, by merchant and name, with what is placed there."""
    return await storage.list_stores(merchant_id)


async def update(storage: Storage, store_id: str, *, name: str, address: str, actor: str) -> Store:
    """A new name or address; the devices there show the new name at once."""
    name, address = check_name(name), check_address(address)
    try:
        return await storage.update_store(store_id, name, address)
    except PlaceRefused as e:
        raise refused(e) from None


async def close(storage: Storage, store_id: str, *, actor: str) -> None:
    """open -> closed, once nothing is placed there."""
    try:
        await storage.close_store(store_id)
    except PlaceRefused as e:
        raise refused(e) from None


async def place(storage: Storage, store_id: str) -> list[str]:
    """The Wi-Fi and cell tokens the store's placed devices reported there (its anti-switching place)."""
    return await storage.store_place(store_id)
