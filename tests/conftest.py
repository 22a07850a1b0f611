"""Thread hygiene for every test (runs set torch's thread count from run.threads)."""
import pytest
import torch


@pytest.fixture(autouse=True)
def _keep_threads():
    """Runs set torch's thread count from run.threads; give it back after each test."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)
