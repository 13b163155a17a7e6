"""The seed's function as a plain handler, ``my_func(ctx)``: the same file runs everywhere.

    mlrun run --handler my_func -p p1=5 -s file=secrets.txt -i infile.txt=infile.txt handlers/seed.py
    mlrun serve handlers/seed.py:my_func                        # the Flask shim, on waitress
    mlrun run -p p1=5 -s file=secrets.txt -i infile.txt=infile.txt http://127.0.0.1:8080

``handler`` is the same function for nuclio (``spec.handler: seed:handler``).
"""
from mlrun.adapters.nuclio import nuclio_handler


def my_func(ctx):
    p1 = ctx.get_param('p1', 1)
    p2 = ctx.get_param('p2', 'a-string')

    print(f'Run: {ctx.name} (uid={ctx.uid})')
    print(f'Params: p1={p1}, p2={p2}')
    print('accesskey = {}'.format(ctx.get_secret('ACCESS_KEY')))
    print('file\n{}\n'.format(ctx.get_object('infile.txt').get()))

    ctx.log_output('accuracy', p1 * 2)
    for i in range(1, 4):
        ctx.log_metric('loss', 2 * i, i)
    ctx.log_artifact('test.txt', body=b'abc is 123')


handler = nuclio_handler(my_func, name='myfunc')
