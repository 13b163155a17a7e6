"""The seed's second example: one function run twice in one process, the second time on a spec of its own.

    python -m mlrun run -p p1=5 -s file=secrets.txt -i infile.txt=s3://mybucket/infile.txt example2.py

The first run takes its parameters, secrets and input from the command line; the second, ``task2``, is
described by a spec written in the seed system's names (``input_artifacts``) and printed as YAML.
"""
import os
import struct
import zlib

from mlrun.runtimes import get_or_create_ctx


def save_chart(path, values):
    """A small grey-scale PNG bar chart of ``values`` (no plotting library needed)."""
    width, height, top = 12 * len(values), 48, max(values) or 1
    rows = b"".join(b"\x00" + bytes(0 if height - y <= values[x // 12] * height // top and x % 12 < 10 else 255
                                     for x in range(width)) for y in range(height))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    with open(path, "wb") as fp:
        fp.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
                 + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def my_func(ctx):
    p1 = ctx.get_param('p1', 1)
    p2 = ctx.get_param('p2', 'a-string')

    print(f'Run: {ctx.name} (uid={ctx.uid})')
    print(f'Params: p1={p1}, p2={p2}')
    print('accesskey = {}'.format(ctx.get_secret('ACCESS_KEY')))
    print('file\n{}\n'.format(ctx.input_artifact('infile.txt').get()))

    ctx.log_output('accuracy', p1 * 2)
    ctx.log_metric('loss', 7)
    ctx.log_artifact('chart.png')


if __name__ == "__main__":
    if not os.path.exists('chart.png'):
        save_chart('chart.png', [7, 5, 3, 2])

    ex = get_or_create_ctx('mytask')
    my_func(ex)
    ex.commit('aa')

    # a second run in the same process, described by a spec of its own
    spec = {'spec': {
        'parameters': {'p1': 8},
        'secret_sources': [{'kind': 'file', 'source': 'secrets.txt'}],
        'input_artifacts': [{'key': 'infile.txt', 'path': 's3://mybucket/infile.txt'}]}}
    ctx = get_or_create_ctx('task2', spec=spec)
    my_func(ctx)
    print(ctx.to_yaml())
