"""The seed's function as a nuclio handler: ``spec.handler: seed_nuclio:handler`` (see function.yaml).

    mlrun serve handlers/seed_nuclio.py                       # locally, the way nuclio calls it
    mlrun run -p p1=5 -s file=secrets.txt -i infile.txt=s3://mybucket/infile.txt http://127.0.0.1:8080

The seed's code, except for its artifact: a deployed function has no ``chart.png`` lying next to
it, so it logs the seed's other artifact, ``test.txt``, from a body.  A request that is no run spec
gets one line back (400): an exception here would send its traceback to the caller.
"""
from mlrun import get_or_create_ctx
from mlrun.errors import InvalidInputError


def handler(context, event):
    try:
        ctx = get_or_create_ctx('myfunc', event=event)
    except InvalidInputError as exc:
        return context.Response(body=f'{exc}\n', content_type='text/plain', status_code=400)
    context.logger.info('This is an unstructured log')
    p1 = ctx.get_param('p1', 1)
    p2 = ctx.get_param('p2', 'a-string')

    print(f'Run: {ctx.name} (uid={ctx.uid})')
    print(f'Params: p1={p1}, p2={p2}')
    print('accesskey = {}'.format(ctx.get_secret('ACCESS_KEY')))
    print('file\n{}\n'.format(ctx.input_artifact('infile.txt').get()))

    ctx.log_output('accuracy', p1 * 2)
    for i in range(1, 4):
        ctx.log_metric('loss', 2 * i, i)
    ctx.log_artifact('test.txt', body=b'abc is 123')

    return ctx.to_yaml()
