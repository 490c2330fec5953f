"""The pack's own socket types, shared by every node file."""
from comfy_api.latest import io

#: A handle on a held model set (ghibli_core.models.pipelines.HeldPipelines) with the LoRAs it paints with; the models
#: themselves are released by Unload Models and loaded again on the next run.
Pipeline = io.Custom("GHIBLI_PIPELINE")
#: A depth estimator alone (ghibli_core.models.depth.HeldDepth), from Ghibli Depth Loader: a depth source for Camera Move
#: and for the painting node, without loading an SD pipeline.
DepthModel = io.Custom("GHIBLI_DEPTH")
#: A frame plan (ghibli_core.plan.Plan): one prompt per frame, with its idea and source.
PlanType = io.Custom("GHIBLI_PLAN")
#: A camera move (ghibli_core.camera.CameraSettings): named move and/or per-axis schedules, lens, depth range.
Camera = io.Custom("GHIBLI_CAMERA")
#: A painted run (ghibli_core.job.Rendered): the plan, settings, seed, camera path and models the frames were made with,
#: so the saver writes the same metadata as the command line.
Run = io.Custom("GHIBLI_RUN")

CATEGORY = "Ghibli"
