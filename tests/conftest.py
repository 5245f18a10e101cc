"""Shared test setup: Qt runs headless, and every test gets its own empty QSettings."""
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest


@pytest.fixture(autouse=True)
def isolated_qsettings(tmp_path):
    """Point QSettings (any scope, default format INI) at tmp_path under test org/app names."""
    try:
        from PySide6.QtCore import QCoreApplication, QSettings
    except ImportError:  # engine-only environments have no Qt; nothing to isolate
        yield None
        return
    ini = QSettings.Format.IniFormat
    old = (QSettings.defaultFormat(), QCoreApplication.organizationName(),
           QCoreApplication.organizationDomain(), QCoreApplication.applicationName())
    QSettings.setDefaultFormat(ini)
    # NativeFormat too: QSettings("org", "app") uses it, and on Linux it is INI files as well.
    for fmt in (ini, QSettings.Format.NativeFormat):
        for scope in (QSettings.Scope.UserScope, QSettings.Scope.SystemScope):
            QSettings.setPath(fmt, scope, str(tmp_path / "settings"))
    QCoreApplication.setOrganizationName("dip-studio-tests")
    QCoreApplication.setOrganizationDomain("tests.invalid")
    QCoreApplication.setApplicationName("dip-studio-tests")
    yield tmp_path / "settings"
    QSettings.setDefaultFormat(old[0])
    QCoreApplication.setOrganizationName(old[1])
    QCoreApplication.setOrganizationDomain(old[2])
    QCoreApplication.setApplicationName(old[3])


@pytest.fixture
def restore_torch_threads():
    """A test that changes torch's thread count leaves it as it found it for the next."""
    import torch

    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def machine_timed_per_test():
    """A long plan times the machine once per process (engine/calibrate.py); each test starts
    from the step model's own constants, so no estimate depends on which test ran before."""
    yield
    import sys
    calibrate = sys.modules.get("engine.calibrate")
    if calibrate is not None:
        calibrate.forget()


@pytest.fixture(autouse=True)
def garbage_freed_on_the_main_thread(request):
    """A test's cyclic garbage (windows, QObjects) is collected here, on the main thread, before
    the next test starts a worker thread: collected there, a QObject's destructor can wait
    forever for the interpreter that thread holds (a hang seen once: a run's QThread stuck in
    ~QObject inside torch.jit.load). The app collects on the GUI thread for the same reason
    (app/start.py). Only after tests that drive Qt (qtbot): a full collection after every test
    nearly doubled the suite's time."""
    yield
    if "qtbot" in request.fixturenames:
        import gc
        gc.collect()
