nginx:
  pkg.installed: []

site-page:
  file.managed:
    - name: /var/www/html/index.html
    - source: salt://nginx/index.html.jinja
    - template: jinja
    - makedirs: True
    - require:
      - pkg: nginx

nginx-running:
  service.running:
    - name: nginx
    - enable: True
    - require:
      - pkg: nginx
    - watch:
      - file: site-page
