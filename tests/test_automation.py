"""The shared automation condition: a step whose run failed is left to run retries and `ai-assets retry`."""

import dagster as dg
import pytest

from ai_assets.assets.automation import ON_CHANGE

videos = dg.DynamicPartitionsDefinition(name="toy_videos")


@dg.asset(partitions_def=videos, automation_condition=ON_CHANGE)
def upstream() -> None:
    pass


@dg.asset(partitions_def=videos, automation_condition=ON_CHANGE, deps=[upstream])
def stage(context: dg.AssetExecutionContext) -> None:
    if context.partition_key == "bad":
        raise dg.Failure(description="bad input", allow_retries=False)


@pytest.mark.parametrize("key", ["good", "bad"])
def test_a_failed_step_is_not_requested_again(key):
    """Without `~execution_failed`, the failed partition's stage is requested on the next tick (it never
    materialized, so the newly-missing request still stands): a second run beside the run retry's."""
    defs = dg.Definitions(assets=[upstream, stage])
    with dg.instance_for_test() as instance:
        cursor = dg.evaluate_automation_conditions(defs=defs, instance=instance).cursor
        instance.add_dynamic_partitions("toy_videos", [key])
        # As the upload sensor's run does: the whole chain, before automation sees the new partition.
        result = dg.materialize([upstream, stage], instance=instance, partition_key=key, raise_on_error=False)
        assert result.success == (key == "good")
        tick = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)
        assert not tick.get_requested_partitions(dg.AssetKey("upstream"))
        assert not tick.get_requested_partitions(dg.AssetKey("stage"))
