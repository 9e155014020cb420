# All settings are in settings.ini; edit there, not here (nbdev 2 convention).
from configparser import ConfigParser
import setuptools

config = ConfigParser(delimiters=['='])
config.read('settings.ini', encoding='utf-8')
cfg = config['DEFAULT']

cfg_keys = 'version description keywords author author_email'.split()
expected = cfg_keys + 'lib_name user branch license status min_python audience language'.split()
for o in expected: assert o in cfg, f'missing expected setting: {o}'
setup_cfg = {o: cfg[o] for o in cfg_keys}

licenses = {'apache2': 'Apache-2.0'}   # SPDX expression (license classifiers are deprecated)
statuses = ['1 - Planning', '2 - Pre-Alpha', '3 - Alpha', '4 - Beta', '5 - Production/Stable',
            '6 - Mature', '7 - Inactive']
lic = licenses.get(cfg['license'].lower(), cfg['license'])
requirements = cfg.get('requirements', '').split()
dev_requirements = (cfg.get('dev_requirements') or '').split()

setuptools.setup(
    name=cfg['lib_name'],
    license=lic,
    classifiers=['Development Status :: ' + statuses[int(cfg['status'])],
                 'Intended Audience :: ' + cfg['audience'].title(),
                 'Natural Language :: ' + cfg['language'].title(),
                 'Programming Language :: Python :: 3'],
    url=cfg['git_url'],
    packages=setuptools.find_packages(include=[cfg['lib_path'], cfg['lib_path'] + '.*']),
    include_package_data=True,
    package_data={cfg['lib_path']: ['configs/*.yaml', 'resources/*', 'paper_results.json']},
    install_requires=requirements,
    extras_require={'dev': dev_requirements},
    python_requires='>=' + cfg['min_python'],
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    zip_safe=False,
    entry_points={'console_scripts': cfg.get('console_scripts', '').split(),
                  'nbdev': [f'{cfg.get("lib_path")}={cfg.get("lib_path")}._modidx:d']},
    **setup_cfg)
