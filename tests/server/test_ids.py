"""Row ids sort in the order they were made, so commands and events come back in the order given."""
from server.clock import new_id


def test_ids_made_in_one_millisecond_still_sort_in_creation_order():
    ids = [new_id() for _ in range(5000)]    # thousands land in the same millisecond
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert {len(i) for i in ids} == {32}
