"""The shared automation condition: a step whose run failed is left to run retries and `ai-assets retry`, and a
parent changed by the run that made the stage too requests nothing."""

import dagster as dg
import pytest

from ai_assets.assets.automation import ON_CHANGE, WHOLE_VIDEO_TAG
from ai_assets.jobs import process_video

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


@dg.asset(partitions_def=videos, automation_condition=ON_CHANGE)
def parent(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    # A new data version on every materialization: the child's input always changes.
    return dg.MaterializeResult(data_version=dg.DataVersion(context.run_id))


@dg.asset(partitions_def=videos, automation_condition=ON_CHANGE, deps=[parent], output_required=False)
def child(context: dg.AssetExecutionContext):
    # Made only on the first run: later runs leave the child where a tick racing the run finds it, its parent new
    # and itself neither in progress nor newly made.
    if context.instance.get_latest_materialization_event(dg.AssetKey("child")) is None:
        yield dg.Output(None)


@pytest.mark.parametrize("how", ["whole_video_job", "selection_with_child", "parent_alone"])
def test_a_parent_changed_by_a_run_that_made_the_child_requests_nothing(how):
    """A parent with a new data version requests its child, unless the run that changed the parent made the child
    too (a whole-video run, or a run selecting both): that run launched a second one for the child before."""
    defs = dg.Definitions(assets=[parent, child])
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("toy_videos", ["v"])
        assert dg.materialize([parent, child], instance=instance, partition_key="v").success
        cursor = dg.evaluate_automation_conditions(defs=defs, instance=instance).cursor
        # As the UI's "Materialize" does: a run of the asset job with the chosen assets as its selection. The
        # whole-video job's runs carry the tag, whatever they select.
        selection = [parent.key] if how != "selection_with_child" else [parent.key, child.key]
        tags = {WHOLE_VIDEO_TAG: "true"} if how == "whole_video_job" else {}
        job = defs.resolve_implicit_global_asset_job_def()
        assert job.execute_in_process(instance=instance, partition_key="v", asset_selection=selection,
                                      tags=tags).success
        tick = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)
        requested = tick.get_requested_partitions(dg.AssetKey("child"))
        assert requested == (set() if how != "parent_alone" else {"v"})


def test_the_whole_video_job_tags_its_runs():
    assert process_video.run_tags == {WHOLE_VIDEO_TAG: "true"}
