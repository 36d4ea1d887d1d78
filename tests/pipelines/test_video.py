"""Videos of a trained policy (`record_video` of every pipeline, pipelines.video): frame
counts (one frame per observation), frames read back from the file, and the refusals."""
import numpy as np
import pytest

from puffer_backend.pipelines import MemoryLogger, TrainConfig, load_pipeline
from puffer_backend.pipelines.envs.render import _minatar_frame
from puffer_backend.pipelines.video import VideoWriter, check_video_path

TOY = "tests.pipelines.envs.toy_envs"
SHORT = dict(total_steps=64, num_envs=2, num_steps=32, num_minibatches=2, update_epochs=1)


def _trained(backend, env_id, run_dir):
    pipeline = load_pipeline(backend)
    pipeline.train(TrainConfig(backend=backend, env_id=env_id, **SHORT), MemoryLogger(run_dir))
    return pipeline


def _save_jax_policy(run_dir, env_id):
    """A run folder holding the built-in jax policy's initial params for `env_id`."""
    import jax

    from puffer_backend.pipelines.checkpoint import Checkpoint, flatten_tree, save_checkpoint
    from puffer_backend.pipelines.envs.gymnax_vec import make_env
    from puffer_backend.pipelines.jax.policy import init_params

    params = init_params(jax.random.PRNGKey(0), make_env(env_id))
    save_checkpoint(run_dir, TrainConfig(backend="jax", env_id=env_id), Checkpoint("jax", 0, 0, params=flatten_tree(params)))


def _gif_frames(path):
    from PIL import Image

    with Image.open(path) as image:
        frames = []
        for index in range(image.n_frames):
            image.seek(index)
            frames.append(np.asarray(image.convert("RGB")))
    return frames


def _mp4_frames(path):
    imageio = pytest.importorskip("imageio.v2")
    with imageio.get_reader(path) as reader:
        return [np.asarray(frame) for frame in reader]


def test_torch_video_has_a_frame_per_observation(tmp_path):
    """The clock env's episodes last 7 steps and frame t shows t + 1 white columns: two
    episodes are 2 x 8 frames, each the env's own render, in order."""
    pytest.importorskip("torch")
    pytest.importorskip("gymnasium")
    from tests.pipelines.envs.toy_envs import CLOCK_LENGTH, clock_frame

    pipeline = _trained("torch", f"{TOY}:make_clock_env", tmp_path / "run")
    out = pipeline.record_video(tmp_path / "run", tmp_path / "clock.gif", episodes=2)
    assert out["returns"] == [7.0, 7.0] and out["frames"] == 2 * (CLOCK_LENGTH + 1)
    want = [clock_frame(t) for _ in range(2) for t in range(CLOCK_LENGTH + 1)]
    got = _gif_frames(tmp_path / "clock.gif")
    assert len(got) == len(want)
    for frame, expected in zip(got, want):
        np.testing.assert_array_equal(frame, expected)
    pytest.importorskip("imageio_ffmpeg")
    pipeline.record_video(tmp_path / "run", tmp_path / "clock.mp4", episodes=2)
    frames = _mp4_frames(tmp_path / "clock.mp4")
    assert len(frames) == 16 and frames[0].shape == (16, 32, 3)
    # Lossy, but the white columns are there: column t + 1 is white from frame t on.
    whites = [int((frame.mean(axis=(0, 2)) > 128).sum()) for frame in frames]
    assert whites == [t + 1 for _ in range(2) for t in range(CLOCK_LENGTH + 1)]


@pytest.mark.parametrize("backend", ["jax", "mixed"])
def test_gymnax_cartpole_video(backend, tmp_path):
    """gymnax CartPole drawn by gymnasium's renderer: a CartPole episode of return R has R
    steps, so R + 1 frames; the mp4 holds them all, 600 x 400 padded to 608 x 400."""
    pytest.importorskip("jax")
    pytest.importorskip("gymnax")
    pytest.importorskip("pygame")
    pytest.importorskip("imageio_ffmpeg")
    if backend == "mixed":
        pytest.importorskip("torch")
        pipeline = _trained(backend, "CartPole-v1", tmp_path / "run")
    else:  # a saved untrained policy: the video's truth does not need a trained one (and skips a compile)
        pipeline = load_pipeline("jax")
        _save_jax_policy(tmp_path / "run", "CartPole-v1")
    out = pipeline.record_video(tmp_path / "run", tmp_path / "cartpole.mp4", episodes=2, seed=1)
    assert len(out["returns"]) == 2 and out["frames"] == int(sum(out["returns"])) + 2
    frames = _mp4_frames(tmp_path / "cartpole.mp4")
    assert len(frames) == out["frames"] and frames[0].shape == (400, 608, 3)
    assert frames[0].mean() > 200  # gymnasium's white background, a cart and a pole drawn on it


def test_gymnax_episodes_end_at_the_time_limit(tmp_path):
    """Pendulum never terminates: each episode ends at its 200-step time limit, 201 frames.
    (A GIF merges identical consecutive frames and adds up their durations: the play time
    is that of every frame.)"""
    pytest.importorskip("jax")
    pytest.importorskip("gymnax")
    pytest.importorskip("pygame")
    _save_jax_policy(tmp_path / "run", "Pendulum-v1")
    out = load_pipeline("jax").record_video(tmp_path / "run", tmp_path / "pendulum.gif", episodes=2)
    assert out["frames"] == 2 * 201
    from PIL import Image

    with Image.open(tmp_path / "pendulum.gif") as image:
        durations = []
        for index in range(image.n_frames):
            image.seek(index)
            durations.append(image.info["duration"])
    assert sum(durations) == 2 * 201 * 30  # Pendulum's 30 fps: 1000 / 30 ms in GIF's 10 ms units


def test_minatar_frames_colour_the_highest_set_channel():
    obs = np.zeros((10, 10, 4), bool)
    obs[2, 3, 0] = obs[2, 3, 2] = True  # two objects on one cell: the later channel shows
    obs[7, 1, 1] = True
    frame = _minatar_frame(None, obs)
    assert frame.shape == (160, 160, 3) and frame.dtype == np.uint8
    cell = lambda r, c: frame[16 * r:16 * (r + 1), 16 * c:16 * (c + 1)]  # noqa: E731
    assert (cell(0, 0) == 0).all()  # empty: black
    channel_two = obs.copy()
    channel_two[2, 3, 0] = False
    np.testing.assert_array_equal(cell(2, 3), _minatar_frame(None, channel_two)[32:48, 48:64])
    assert not np.array_equal(cell(2, 3)[0, 0], cell(7, 1)[0, 0]) and cell(7, 1).any()


def test_refusals(tmp_path):
    with pytest.raises(ValueError, match=r"^video: expected a file name ending in .mp4 or .gif, received 'x.avi'"):
        check_video_path("x.avi")
    with pytest.raises(ValueError, match="video: expected a path in an existing folder"):
        check_video_path(tmp_path / "missing" / "x.gif")
    with pytest.raises(ValueError, match="frame: expected an rgb_array frame"):
        with VideoWriter(tmp_path / "x.gif") as writer:
            writer.append(np.zeros((4, 4), np.uint8))


def test_envs_without_frames_are_refused(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("jax")
    pytest.importorskip("gymnax")
    torch_pipeline = _trained("torch", f"{TOY}:make_unrendered_env", tmp_path / "torch")
    with pytest.raises(ValueError, match=r"env: expected an env made with render_mode='rgb_array'"):
        torch_pipeline.record_video(tmp_path / "torch", tmp_path / "a.gif")
    jax_pipeline = load_pipeline("jax")
    _save_jax_policy(tmp_path / "jax", "Catch-bsuite")
    with pytest.raises(ValueError, match=r"^env_id: expected a gymnax env with frames for a video .*'Catch-bsuite'"):
        jax_pipeline.record_video(tmp_path / "jax", tmp_path / "b.gif")
    assert not (tmp_path / "b.gif").exists()
