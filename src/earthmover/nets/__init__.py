"""Networks. Importing this package registers the built-in architectures: each module registers its own in
:data:`earthmover.nets.registry.ARCHITECTURES`, and the import order below is the order ``--help`` lists them."""

# isort: off
from earthmover.nets import mlp, dcgan, conv, infogan, resnet, progressive  # noqa: F401  (registration)
# isort: on
