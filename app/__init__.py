"""DIP Studio's desktop app (PySide6): widgets over the engine; the engine never imports this package."""
