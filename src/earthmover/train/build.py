"""From a config to the pieces the loop plugs together: the plan of registered entries, the
networks they need, optimizers. Entries are wired by what they declare (``needs``, ``provides``,
``critic``), never by their names."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch

from earthmover.data.from_config import make_stream
from earthmover.data.labels import LabelEmbedding, require_labels
from earthmover.data.latent import LatentSpace
from earthmover.data.streams import ImageStream, ToyStream
from earthmover.data.toy import TOY_DISTRIBUTIONS
from earthmover.errors import EarthmoverError
from earthmover.losses.heads import DataInfo, HeadedCritic, feature_dim
from earthmover.losses.objectives import Objective, make_objective
from earthmover.nets.conditional import (
    ConcatCritic,
    ConcatGenerator,
    ProjectionCritic,
    concat_input_shape,
    concat_latent_dim,
)
from earthmover.nets.minibatch import add_minibatch_layer, layer_couples_samples
from earthmover.nets.registry import NetSpec, resolve_architecture
from earthmover.registry import CONSTRAINTS, HEADS, PENALTIES
from earthmover.train.accumulate import check_accumulable
from earthmover.train.augmenting import AUGMENT_STREAM, RunAugment
from earthmover.train.ema import GeneratorEMA
from earthmover.train.growth import NoGrowth, build_growth
from earthmover.train.monitor import ImageMonitor, ToyMonitor, derived_seed, make_monitor


def is_toy(config) -> bool:
    return config.data.name in TOY_DISTRIBUTIONS


def resolve_data_shape(config) -> tuple[int, ...]:
    """The shape of one sample, from the config alone (loads the image source for images)."""
    if is_toy(config):
        return (2,)
    return make_stream(config.data, 0).sample_shape


def net_spec(config, shape, plan: Plan | None = None) -> NetSpec:
    """What the config asks of the networks, for samples of `shape`: an auto-encoder critic when
    a head in the plan asks for one (the reconstruction an energy-based objective needs)."""
    m = config.model
    plan = plan or build_plan(config)
    return NetSpec(
        tuple(shape),
        m.latent_dim,
        m.width,
        m.depth,
        m.critic_norm,
        m.dropout,
        auto_encoder="auto-encoder" in {head.critic for head in plan.heads},
    )


def generator_takes_labels(config, plan: Plan) -> bool:
    """Conditional runs (model.conditional) and heads that ask for it (AC-GAN) give the generator labels."""
    return config.model.conditional != "none" or any(h.takes_labels for h in plan.heads)


def label_users(config, plan: Plan) -> list[str]:
    """What in the run needs class labels from the data (empty: nothing)."""
    users = [f"model.conditional = {config.model.conditional!r}"] if config.model.conditional != "none" else []
    return users + [f"head.{h.name}" for h in plan.heads if h.takes_labels]


def latent_codes(plan: Plan):
    """InfoGAN's CodeSpec when a head adds codes to the latent, else None."""
    return next((c for h in plan.heads if (c := h.codes()) is not None), None)


def build_generator(config, shape, plan: Plan | None = None, num_classes: int = 0) -> tuple[torch.nn.Module, int]:
    """The generator and the width of its latent z. With codes (InfoGAN) z is noise plus codes; a
    conditional run's generator reads ``(z, labels)``: the label embedding joins z
    (:class:`earthmover.nets.conditional.ConcatGenerator`)."""
    plan = plan or build_plan(config)
    arch = resolve_architecture(config.model.arch, shape)
    spec = arch.resolve(net_spec(config, shape, plan))
    codes = latent_codes(plan)
    if codes is not None:
        if config.model.latent_dim and config.model.latent_dim != codes.latent_dim:
            raise EarthmoverError(
                f"model.latent_dim = {config.model.latent_dim} is set, but InfoGAN's latent is its noise and codes "
                f"({codes.latent_dim} wide); drop model.latent_dim and set head.infogan_noise_dim instead"
            )
        spec = replace(spec, latent_dim=codes.latent_dim)
    if not generator_takes_labels(config, plan):
        return arch.generator(spec), spec.latent_dim
    embedding = LabelEmbedding(num_classes, config.model.label_dim)
    inner = arch.generator(replace(spec, latent_dim=concat_latent_dim(spec.latent_dim, embedding)))
    return ConcatGenerator(inner, embedding, spec.latent_dim), spec.latent_dim


def build_latent_space(config, latent_dim: int, plan: Plan | None = None, num_classes: int = 0) -> LatentSpace:
    """What the run's generator reads and how to draw it (labels, InfoGAN codes)."""
    plan = plan or build_plan(config)
    return LatentSpace(latent_dim, num_classes if generator_takes_labels(config, plan) else 0, latent_codes(plan))


def build_critic(config, shape, plan: Plan | None = None, num_classes: int = 0) -> torch.nn.Module:
    """The critic the run's entries ask for (see :func:`net_spec`), conditioned on labels when
    model.conditional says so, with the layers of every head that has some attached to its
    features (:class:`earthmover.losses.heads.HeadedCritic`), then each constraint's parametrization.
    Checked on the built module: refused when an entry needs the critic's features and it
    returns none, or when it holds batch statistics and a penalty is on. A conditional critic is
    called ``critic(x, labels)``."""
    plan = plan or build_plan(config)
    shape = tuple(shape)
    spec = net_spec(config, shape, plan)
    mode = config.model.conditional
    net: torch.nn.Module
    if mode == "concat":
        embedding = LabelEmbedding(num_classes, config.model.label_dim)
        inner_shape = concat_input_shape(shape, embedding)
        net = ConcatCritic(
            _with_minibatch_layer(
                config,
                resolve_architecture(config.model.arch, inner_shape).build_critic(
                    replace(spec, sample_shape=inner_shape)
                ),
            ),
            embedding,
        )
    else:
        net = _with_minibatch_layer(config, resolve_architecture(config.model.arch, shape).build_critic(spec))
    readers = [owner for owner, needs in plan.needs() if "features" in needs]
    if mode == "projection":
        readers.insert(0, "model.conditional = 'projection'")
    if readers:
        dim = feature_dim(net, shape, takes_labels=mode == "concat")
        if dim is None:
            raise EarthmoverError(
                f"{readers[0]} needs the critic's features, but the critic built for model.arch = "
                f"{config.model.arch!r} returns only a score; choose an architecture whose critic returns "
                f"CriticOutput(score, features) (e.g. mlp, dcgan, resnet) or drop {readers[0]}"
            )
        if mode == "projection":
            net = ProjectionCritic(net, num_classes, dim)
        data = DataInfo(shape, num_classes)
        modules = {h.name: (m, h.provides) for h in plan.heads if (m := h.module(dim, data)) is not None}
        if modules:
            net = HeadedCritic(net, modules)
    for constraint in plan.constraints:
        net = constraint.apply(net)
    check_no_batch_statistics(net, plan, config)
    return net


def _with_minibatch_layer(config, critic: torch.nn.Module) -> torch.nn.Module:
    """The critic with model.minibatch's layer between its features and its output layer."""
    m = config.model
    if m.minibatch == "none":
        return critic
    options = (
        {"num_kernels": m.minibatch_kernels, "kernel_dim": m.minibatch_kernel_dim}
        if m.minibatch == "discrimination"
        else {"group_size": m.minibatch_group}
    )
    return add_minibatch_layer(critic, m.minibatch, **options)


def batch_statistics_layers(module: torch.nn.Module) -> list[str]:
    """Names and kinds of the layers whose output for one sample depends on the others in the batch
    (:func:`earthmover.nets.minibatch.layer_couples_samples`), for error messages."""
    return [
        f"{name or 'the critic'} ({type(layer).__name__})"
        for name, layer in module.named_modules()
        if layer_couples_samples(layer)
    ]


def check_no_batch_statistics(critic: torch.nn.Module, plan: Plan, config) -> None:
    """A penalty is a mean of per-sample terms; batch statistics in the critic couple the samples,
    so a sample's gradient depends on the rest of its batch. Read the built module, not the configuration: an EBGAN
    auto-encoder's decoder has batch norm whatever model.critic_norm says."""
    if not plan.penalties:
        return
    found = batch_statistics_layers(critic)
    minibatch = [name for name, layer in critic.named_modules() if getattr(layer, "couples_samples", False)]
    if minibatch and len(minibatch) == len(found):
        if config.model.minibatch_with_penalty:
            return
        names = ", ".join(f"penalty.{p.name}" for p in plan.penalties)
        raise EarthmoverError(
            f"model.minibatch = {config.model.minibatch!r} makes each sample's score depend on the rest of its batch, "
            f"while {names} treats samples as independent (its gradient per sample is then ill-defined); turn the "
            f"penalty off (e.g. --preset dcgan), or pass --model.minibatch-with-penalty true to train the pair anyway"
        )
    if found:
        names = ", ".join(f"penalty.{p.name}" for p in plan.penalties)
        raise EarthmoverError(
            f"the critic built for model.arch = {config.model.arch!r} (objective {plan.objective.name!r}) has batch "
            "statistics in "
            f"{len(found)} layer(s), e.g. {found[0]}, which couple samples and break {names}; turn the penalty off, "
            f"or use model.critic_norm = 'layer' or an architecture whose critic has none (e.g. model.arch = 'mlp')"
        )


@dataclass
class Plan:
    """What the loop plugs together, from the entries the config switches on and what they need."""

    objective: Objective
    penalties: list = field(default_factory=list)
    constraints: list = field(default_factory=list)
    heads: list = field(default_factory=list)

    def needs(self) -> list[tuple[str, tuple[str, ...]]]:
        """(who, the critic outputs it reads) for the objective, each penalty and each head."""
        return [
            (f"objective {self.objective.name!r}", tuple(self.objective.needs)),
            *((f"penalty.{t.name}", tuple(t.needs)) for t in self.penalties),
            *((f"head.{h.name}", tuple(h.needs)) for h in self.heads),
        ]


def build_plan(config) -> Plan:
    """The registered entries of a (validated) config, wired by what they declare: the objective,
    each switched-on penalty and constraint (with their parameters), and every head that provides
    an output the objective or a penalty needs (or that the config switches on)."""
    name = config.objective.name
    objective = make_objective(name, **config.objective.entry_values(name))
    terms = [PENALTIES[n](**config.penalty.entry_values(n)) for n in config.penalty.enabled()]
    constraints = [CONSTRAINTS[n](**config.constraint.entry_values(n)) for n in config.constraint.enabled()]
    heads = [HEADS[n](**config.head.entry_values(n)) for n in config.head.enabled()]
    needed = set(objective.needs).union(*(t.needs for t in terms), *(h.needs for h in heads))
    for head_name, cls in HEADS.items():
        if set(cls.provides) & needed and all(type(h) is not cls for h in heads):
            heads.append(cls(**config.head.entry_values(head_name)))
    return Plan(objective, terms, constraints, heads)


def build_penalties(config) -> list:
    """The switched-on penalty entries (each callable as ``term(critic, real, fake, weight=, generator=)``)."""
    return build_plan(config).penalties


def build_optimizer(config, params, lr: float) -> torch.optim.Optimizer:
    o = config.optim
    if o.name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr)
    # The fused kernel (CPU and CUDA) is measurably faster for the small networks of toy runs (~6% per step).
    return torch.optim.Adam(params, lr=lr, betas=(o.beta1, o.beta2), fused=True)


@dataclass
class Run:
    """The pieces of one run, built once from its config (:func:`build_run`) and handed to the
    :class:`~earthmover.train.loop.Trainer`: the data stream and the run's monitor, the plan of
    entries, the networks (on the device), the latent space, the growth schedule, the EMA copy and
    the two optimizers."""

    stream: ToyStream | ImageStream
    monitor: ToyMonitor | ImageMonitor
    plan: Plan
    generator: torch.nn.Module
    latent_dim: int
    latent: LatentSpace
    critic: torch.nn.Module
    num_classes: int
    labelled: bool
    growth: NoGrowth
    ema: GeneratorEMA | None
    opt_d: torch.optim.Optimizer
    opt_g: torch.optim.Optimizer
    augment: RunAugment | None = None


def build_run(config, device: torch.device, ctx, stream_seed: int) -> Run:
    """Every piece of a run from a validated config, in the order that fixes its random draws: the
    global torch RNG seeded with ``run.seed``, the data stream (its own generator, `stream_seed`),
    the generator's then the critic's initialization. The plan is built once, here."""
    torch.manual_seed(config.run.seed)  # initialization and dropout
    stream = make_stream(config.data, stream_seed, device=device)
    shape = tuple(stream.sample_shape)
    plan = build_plan(config)
    users = label_users(config, plan)
    num_classes = getattr(stream, "num_classes", 0) if users else 0
    if users and num_classes < 2:
        require_labels(None, config.data.name, use=users[0])
    generator, latent_dim = build_generator(config, shape, plan, num_classes)
    latent = build_latent_space(config, latent_dim, plan, num_classes)
    critic = build_critic(config, shape, plan, num_classes)
    check_accumulable(critic, config.run.accumulate)  # batch statistics seen per micro-batch would change
    growth = build_growth(config, shape, ctx.world_size)
    if ctx.enabled and device.type == "cuda":
        # batch statistics over the global batch; SyncBatchNorm is CUDA-only, so on CPU (gloo)
        # each process normalizes its shard and DDP broadcasts rank 0's running statistics
        generator = torch.nn.SyncBatchNorm.convert_sync_batchnorm(generator)
    generator.to(device)
    critic.to(device)
    ema = GeneratorEMA(generator, config.model.ema) if config.model.ema else None
    return Run(
        stream=stream,
        monitor=make_monitor(stream),
        plan=plan,
        generator=generator,
        latent_dim=latent_dim,
        latent=latent,
        critic=critic,
        num_classes=num_classes,
        labelled=bool(users),
        growth=growth,
        ema=ema,
        opt_d=build_optimizer(config, critic.parameters(), config.optim.lr_d),
        opt_g=build_optimizer(config, generator.parameters(), config.optim.lr_g),
        augment=build_augment(config),
    )


def build_augment(config) -> RunAugment | None:
    """The run's augmentation (issue 22), or None when augment.policy is empty. Its generator is seeded on a
    stream of its own, so building it draws nothing from the run's other generators."""
    if not config.augment.policy:
        return None
    images = config.data.batch_size * config.optim.n_critic
    return RunAugment(config, derived_seed(config.run.seed, AUGMENT_STREAM), images)
