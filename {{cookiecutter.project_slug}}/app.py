"""Start the forecast UI: the entry point of a Hugging Face Space (``python app.py``).

Listens on 127.0.0.1:7860 unless GRADIO_SERVER_NAME / GRADIO_SERVER_PORT say otherwise (Spaces
sets GRADIO_SERVER_NAME=0.0.0.0). The package must be importable: installed (``pip install .``) or,
on a Space, its folder uploaded next to this file.
"""

import os

from {{ cookiecutter.package_name }}.ops import redaction
from {{ cookiecutter.package_name }}.ui import build_app

if __name__ == "__main__":
    redaction.install()
    # share=False whatever GRADIO_SHARE says (no public tunnel); no allowed_paths: Gradio serves no
    # file of this folder, the store or the system (tests/reliability/test_security.py checks it).
    build_app().launch(server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"), share=False)
