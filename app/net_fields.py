"""The network rows of the settings panel: architecture, depth, channels, skip channels,
ResNet blocks, and the line that shows per-level settings those boxes cannot express."""
from __future__ import annotations

import copy
import dataclasses

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QComboBox, QFormLayout, QLineEdit

from engine.config import NetConfig

from .settings_format import describe_levels, is_per_level
from .settings_widgets import select_data, spin_box

ARCH_LABELS = {
    "skip": "Skip hourglass",
    "hourglass": "Hourglass (no skips)",
    "unet": "U-Net",
    "resnet": "ResNet",
}


class NetFields(QObject):
    """The network being edited and its rows, added to the panel's ``form`` (not a box of
    their own) so that their labels share one column with the rows around them.

    ``changed`` fires when the user edits a field, never while a net is being shown."""

    changed = Signal()

    def __init__(self, form: QFormLayout, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._form = form
        self._net = NetConfig()
        self._loading = 0

        self.arch_combo = QComboBox()
        for a, label in ARCH_LABELS.items():
            self.arch_combo.addItem(label, a)
        self.arch_combo.setToolTip("Network shape: the paper mostly uses the skip hourglass.")
        self.arch_combo.currentIndexChanged.connect(self._on_arch)
        form.addRow("Architecture:", self.arch_combo)

        self.depth_spin = spin_box(1, 8, "Number of down/up levels; images are padded to a multiple of 2^depth.")
        self.depth_spin.valueChanged.connect(self._on_width)
        form.addRow("Depth (levels):", self.depth_spin)

        self.channels_spin = spin_box(8, 256, "Feature channels per level (ResNet: per block); more = slower, "
                                              "more parameters.")
        self.channels_spin.valueChanged.connect(self._on_width)
        form.addRow("Channels:", self.channels_spin)

        self.skip_spin = spin_box(0, 128, "Channels of each skip connection; 0 = plain hourglass.")
        self.skip_spin.valueChanged.connect(self._on_width)
        form.addRow("Skip channels:", self.skip_spin)

        self.blocks_spin = spin_box(1, 32, "Number of residual blocks.")
        self.blocks_spin.valueChanged.connect(self._on_width)
        form.addRow("ResNet blocks:", self.blocks_spin)

        self.per_level_edit = QLineEdit()
        self.per_level_edit.setReadOnly(True)
        form.addRow("", self.per_level_edit)

    def net(self) -> NetConfig:
        """A copy of the net as shown."""
        net = copy.deepcopy(self._net)
        net.arch = self.arch_combo.currentData()
        return net

    def show_net(self, net: NetConfig) -> None:
        """Show ``net``, all of it: per-level lists stay as they are until a box is edited."""
        self._net = copy.deepcopy(net)
        select_data(self.arch_combo, net.arch)
        self._show_numbers()

    def update_visibility(self) -> None:
        arch = self.arch_combo.currentData()
        self._form.setRowVisible(self.depth_spin, arch != "resnet")
        # only the skip net reads n_s: the hourglass has no skips, the U-Net concatenates all
        self._form.setRowVisible(self.skip_spin, arch == "skip")
        self._form.setRowVisible(self.blocks_spin, arch == "resnet")
        self._show_per_level()

    # ------------------------------------------------------------------ reactions
    def _on_arch(self, _index: int) -> None:
        if self._loading:
            return
        was_resnet = self._net.arch == "resnet"
        self._net = dataclasses.replace(self._net, arch=self.arch_combo.currentData())
        if was_resnet != (self._net.arch == "resnet"):
            self._show_numbers()   # the channels box now means the other kind of channels
        self.update_visibility()
        self.changed.emit()

    def _on_width(self, _value: int) -> None:
        if self._loading:
            return
        if self.arch_combo.currentData() == "resnet":
            self._net = dataclasses.replace(self._net, resnet_blocks=self.blocks_spin.value(),
                                            resnet_channels=self.channels_spin.value())
        else:
            self._net = self._net.with_width(self.depth_spin.value(), self.channels_spin.value(),
                                             self.skip_spin.value())
            self._net.resnet_blocks = self.blocks_spin.value()
        self._show_per_level()
        self.changed.emit()

    # ------------------------------------------------------------------ display
    def _show_numbers(self) -> None:
        """Depth/channels/skip/blocks spins from ``self._net``, without reacting to them."""
        n = self._net
        self._loading += 1
        try:
            if n.arch == "resnet":
                self.channels_spin.setValue(n.resnet_channels)
            else:
                self.depth_spin.setValue(len(n.channels_down))
                self.channels_spin.setValue(max(n.channels_down))
                self.skip_spin.setValue(max(n.channels_skip) if n.channels_skip else 0)
            self.blocks_spin.setValue(n.resnet_blocks)
        finally:
            self._loading -= 1
        self._show_per_level()

    def _show_per_level(self) -> None:
        per_level = is_per_level(self._net) and self.arch_combo.currentData() != "resnet"
        text = describe_levels(self._net) if per_level else ""
        self.per_level_edit.setText(text)
        self.per_level_edit.setCursorPosition(0)
        # the line is often wider than the panel: the tooltip shows it whole
        self.per_level_edit.setToolTip(text + "\nEditing depth or channels makes the levels uniform.")
        self._form.setRowVisible(self.per_level_edit, per_level)
