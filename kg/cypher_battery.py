"""A battery of Cypher statements for the read-only path: what it must refuse, bound, and run.

Used by the tests (``tests/app/test_cypher_battery.py``, every statement through the CLI, Python
and HTTP on the real server) and by ``python -m benchmarks.security``. Statements that would read
a file name it through ``{canary}`` (a file the caller makes with a random line) and ``/etc/passwd``,
so that a read which got through shows up in the rows.

Classes (``Statement.group``): direct writes; schema and administration; file and network reads;
dynamic Cypher (APOC strings); background work (periodic, triggers, logs); export and dumps;
configuration, statistics and connections; resource exhaustion (heap, time, size); lexical
evasion (backticks, comments, case, unicode); and valid reads that must keep working.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["Statement", "statements"]

Expect = Literal["refuse", "read", "bounded"]


@dataclass(frozen=True)
class Statement:
    """One statement and what the read-only path must do with it.

    ``expect``: ``refuse`` (an error, nothing runs), ``read`` (runs and returns rows), or
    ``bounded`` (an error or a result cut by a cap; never a success past the timeout, never a
    server that stops answering).
    """

    group: str
    query: str
    expect: Expect


def _file_reads(canary: str) -> list[str]:
    urls = [f"file://{canary}", "file:///etc/passwd", "file:///proc/self/environ", "file:///../../../../etc/passwd"]
    out = []
    for u in urls:
        out += [
            f"LOAD CSV FROM '{u}' AS row RETURN row",
            f"LOAD CSV WITH HEADERS FROM '{u}' AS row RETURN row",
            f"load csv from '{u}' as row return row",
            f"CALL {{ LOAD CSV FROM '{u}' AS row RETURN row }} RETURN row",
            f"RETURN apoc.cypher.runFirstColumnMany('LOAD CSV FROM \"{u}\" AS r RETURN r', {{}}) AS x",
            f"CALL apoc.when(true, 'LOAD CSV FROM \"{u}\" AS r RETURN r', '') YIELD value RETURN value",
            f"CALL apoc.case([true, 'LOAD CSV FROM \"{u}\" AS r RETURN r']) YIELD value RETURN value",
            f"CALL apoc.load.csv('{u}') YIELD list RETURN list",
            f"CALL apoc.load.json('{u}') YIELD value RETURN value",
        ]
    out += [
        "LOAD CSV FROM 'http://127.0.0.1:7474/' AS row RETURN row",
        "LOAD CSV FROM 'https://127.0.0.1:1/x.csv' AS row RETURN row",
        f"CALL apoc.load.xml('file://{canary}') YIELD value RETURN value",
        f"CALL apoc.load.jsonParams('file://{canary}', {{}}, null) YIELD value RETURN value",
        f"CALL apoc.import.csv([{{fileName: 'file://{canary}', labels: ['X']}}], [], {{}})",
        f"RETURN apoc.xml.parse('<!DOCTYPE x [<!ENTITY e SYSTEM \"file://{canary}\">]><x>&e;</x>') AS x",
        "LOAD CSV FROM $url AS row RETURN row",
        "RETURN file() AS f",
        "RETURN linenumber() AS n",
    ]
    return out


_WRITES = [
    "CREATE (n:Evil) RETURN n",
    "create (n:Evil)",
    "CrEaTe (:Evil {x: 1})",
    "MERGE (n:KgdxNode {id: 'HP:0000001'})",
    "MERGE (a:Evil)-[:R]->(b:Evil)",
    "MATCH (n) DETACH DELETE n",
    "MATCH (n:Phenotype) DELETE n",
    "MATCH ()-[r]->() DELETE r",
    "MATCH (n:Phenotype) SET n.name = 'changed'",
    "MATCH (n:Phenotype) SET n += {evil: 1}",
    "MATCH (n:Phenotype) SET n:Evil",
    "MATCH (n:Phenotype) REMOVE n.name",
    "MATCH (n:Phenotype) REMOVE n:Phenotype",
    "FOREACH (x IN [1] | CREATE (:Evil))",
    "UNWIND range(1, 3) AS i CREATE (:Evil {i: i})",
    "MATCH (a:Phenotype), (b:Phenotype) CREATE (a)-[:EVIL]->(b)",
    "MATCH (n:Phenotype) CALL (n) { SET n.evil = 1 } IN TRANSACTIONS",
    "CALL { MATCH (n) RETURN count(n) AS c } IN TRANSACTIONS RETURN c",
    "MATCH (n:Phenotype) WITH n LIMIT 1 CALL (n) { DETACH DELETE n } RETURN 1",
    "MATCH (n) WHERE n.id = 'x' OPTIONAL MATCH (m) MERGE (n)-[:E]->(m)",
    "/* read */ CREATE (:Evil)",
    "RETURN 1 UNION CREATE (x:Evil) RETURN 1",
    "CALL db.createLabel('Evil')",
    "CALL db.createProperty('evil')",
    "CALL db.createRelationshipType('EVIL')",
    "CALL db.create.setNodeVectorProperty(null, 'v', [1.0])",
    "CALL apoc.create.node(['Evil'], {})",
    "CALL apoc.create.setProperty([], 'evil', 1)",
    "CALL apoc.merge.node(['Evil'], {id: 1})",
    "CALL apoc.refactor.rename.label('Phenotype', 'Evil')",
    "CALL apoc.nodes.delete([], 10)",
    "CALL apoc.convert.setJsonProperty(null, 'p', {})",
    "CALL apoc.atomic.add(null, 'p', 1)",
    "CALL apoc.lock.nodes([])",
    "CALL apoc.schema.assert({}, {})",
    "CALL apoc.graph.fromDocument('{}', {write: true})",
]

_ADMIN = [
    "CREATE INDEX evil FOR (n:Phenotype) ON (n.evil)",
    "CREATE INDEX evil IF NOT EXISTS FOR (n:Phenotype) ON (n.evil)",
    "DROP INDEX kgdx_node_id",
    "DROP CONSTRAINT kgdx_phenotype_id",
    "CREATE CONSTRAINT evil FOR (n:Evil) REQUIRE n.id IS UNIQUE",
    "CREATE FULLTEXT INDEX evil FOR (n:Phenotype) ON EACH [n.name]",
    "CREATE DATABASE evil",
    "DROP DATABASE neo4j",
    "STOP DATABASE neo4j",
    "START DATABASE neo4j",
    "ALTER DATABASE neo4j SET ACCESS READ ONLY",
    "CREATE USER evil SET PASSWORD 'a-long-password'",
    "ALTER USER neo4j SET PASSWORD 'a-long-password'",
    "ALTER CURRENT USER SET PASSWORD FROM 'x' TO 'a-long-password'",
    "DROP USER neo4j",
    "GRANT ROLE admin TO evil",
    "SHOW USERS",
    "SHOW CURRENT USER",
    "SHOW DATABASES",
    "SHOW SERVERS",
    "SHOW SETTINGS",
    "SHOW TRANSACTIONS",
    "SHOW TRANSACTIONS YIELD currentQuery RETURN currentQuery",
    "TERMINATE TRANSACTIONS 'neo4j-transaction-1'",
    "SHOW TRANSACTIONS YIELD transactionId TERMINATE TRANSACTIONS transactionId",
    "USE system SHOW USERS",
    "USE system MATCH (n) RETURN n",
    "CALL dbms.killConnection('bolt-1')",
    "CALL dbms.killConnections(['bolt-1'])",
    "CALL db.clearQueryCaches()",
    "CALL db.prepareForReplanning()",
    "CALL db.resampleOutdatedIndexes()",
    "CALL db.stats.clear('QUERIES')",
    "CALL dbms.upgrade()",
]

_DYNAMIC = [
    "CALL apoc.cypher.run('MATCH (n) RETURN n', {}) YIELD value RETURN value",
    "CALL apoc.cypher.doIt('CREATE (n:Evil) RETURN n', {})",
    "CALL apoc.cypher.runMany('CREATE (:Evil);', {})",
    "CALL apoc.cypher.runTimeboxed('CALL apoc.util.sleep(60000) RETURN 1', {}, 1000)",
    "CALL apoc.cypher.runSchema('CREATE INDEX e FOR (n:E) ON (n.e)', {})",
    "CALL apoc.cypher.parallel('RETURN 1', {}, 'x')",
    "CALL apoc.cypher.runWrite('CREATE (:Evil)', {})",
    "RETURN apoc.cypher.runFirstColumnSingle('RETURN 1', {}) AS x",
    "RETURN apoc.cypher.runFirstColumnMany('SHOW TRANSACTIONS YIELD transactionId TERMINATE TRANSACTIONS transactionId', {})",
    "RETURN apoc.cypher.runFirstColumn('RETURN 1', {}) AS x",
    "CALL apoc.do.when(true, 'CREATE (:Evil)', '', {})",
    "CALL apoc.do.case([true, 'CREATE (:Evil)'], '', {})",
    "CALL apoc.when(true, 'RETURN 1 AS x', '', {}) YIELD value RETURN value",
    "CALL apoc.case([true, 'RETURN 1 AS x'], '', {}) YIELD value RETURN value",
    "RETURN apoc.cypher.runFirstColumnMany($q, {}) AS x",
    "CALL apoc.graph.fromCypher('MATCH (n) RETURN n', {}, 'g', {})",
    "CALL apoc.search.node('{Phenotype: \"name\"}', 'CONTAINS', 'a')",
    "CALL apoc.cypher.mapParallel('RETURN 1', {}, [1])",
    "CALL apoc.cypher.run('CALL dbms.listConfig()', {})",
    "CALL apoc.cypher.run('LOAD CSV FROM \"file:///etc/passwd\" AS r RETURN r', {})",
]

_BACKGROUND = [
    "CALL apoc.periodic.repeat('evil', 'CREATE (:Evil)', 1)",
    "CALL apoc.periodic.submit('evil', 'CREATE (:Evil)')",
    "CALL apoc.periodic.iterate('MATCH (n) RETURN n', 'SET n.evil = 1', {})",
    "CALL apoc.periodic.commit('MATCH (n:Evil) WITH n LIMIT 1 DELETE n RETURN count(*)', {})",
    "CALL apoc.periodic.list()",
    "CALL apoc.periodic.cancel('evil')",
    "CALL apoc.periodic.countdown('evil', 'RETURN 1', 1)",
    "CALL apoc.periodic.truncate({})",
    'RETURN apoc.cypher.runFirstColumnSingle(\'CALL apoc.periodic.repeat("evil", "CREATE (:Evil)", 1)\', {})',
    "CALL apoc.trigger.add('evil', 'CREATE (:Evil)', {})",
    "CALL apoc.trigger.install('neo4j', 'evil', 'CREATE (:Evil)', {})",
    "CALL apoc.trigger.list()",
    "CALL apoc.log.info('evil %s', ['x'])",
    "CALL apoc.log.stream('debug.log')",
    "CALL apoc.util.sleep(10000)",
    "CALL apoc.util.validate(true, 'evil', [])",
    "CALL apoc.warmup.run()",
]

_EXPORT = [
    "CALL apoc.export.csv.all(null, {stream: true}) YIELD data RETURN data",
    "CALL apoc.export.json.all(null, {stream: true}) YIELD data RETURN data",
    "CALL apoc.export.cypher.all(null, {streamStatements: true}) YIELD cypherStatements RETURN cypherStatements",
    "CALL apoc.export.graphml.all(null, {stream: true}) YIELD data RETURN data",
    "CALL apoc.export.csv.all('/tmp/kgdx-evil.csv', {})",
    "CALL apoc.export.csv.query('MATCH (n) RETURN n', null, {stream: true})",
    "CALL apoc.export.json.query('MATCH (n) RETURN n', null, {stream: true})",
    "RETURN apoc.cypher.runFirstColumnMany('CALL apoc.export.csv.all(null, {stream: true}) YIELD data RETURN data', {})",
    "CALL apoc.graph.fromDB('g', {})",
    "CALL apoc.meta.graphSample()",
]

_CONFIG = [
    "CALL dbms.listConfig()",
    "CALL dbms.listConfig('dbms.security')",
    "CALL dbms.listConnections()",
    "CALL dbms.info()",
    "CALL dbms.components()",
    "CALL dbms.queryJmx('*:*')",
    "CALL dbms.listCapabilities()",
    "CALL dbms.routing.getRoutingTable({})",
    "CALL db.stats.collect('QUERIES')",
    "CALL db.stats.retrieve('GRAPH COUNTS')",
    "CALL db.stats.retrieveAllAnonymized('x')",
    "CALL db.info()",
    "CALL tx.setMetaData({evil: 1})",
    "CALL tx.getMetaData()",
    "CALL apoc.config.list()",
    "CALL apoc.config.map()",
    "CALL apoc.help('apoc')",
    "CALL apoc.systemdb.execute('SHOW USERS')",
    "RETURN graph.names() AS g",
    "RETURN db.nameFromElementId('x') AS d",
]

_EXHAUST = [
    "RETURN size([i IN range(1, 300000000) | i]) AS n",
    "RETURN size(range(1, 300000000)) AS n",
    "RETURN [i IN range(1, 2000) | [j IN range(1, 2000) | j]] AS n",
    "RETURN range(1, toInteger('300000000')) AS n",
    "RETURN range(1, $n) AS n",
    "WITH 100000000 AS n RETURN size(range(1, n))",
    "RETURN reduce(acc = [1], x IN range(1, 40) | acc + acc) AS n",
    "RETURN size(reduce(s = 'ab', x IN range(1, 40) | s + s)) AS n",
    "RETURN size(replace(replace('aaaaaaaaaa', 'a', 'aaaaaaaaaa'), 'a', 'aaaaaaaaaa')) AS n",
    "RETURN apoc.coll.fill('x', 300000000) AS n",
    "RETURN apoc.text.repeat('x', 300000000) AS n",
    "RETURN apoc.text.lpad('x', 300000000, 'y') AS n",
    "RETURN apoc.coll.combinations(range(1, 30), 15) AS n",
]
_EXHAUST_BOUNDED = [
    "UNWIND range(1, 1000000) AS x MATCH (a), (b) WITH x, a, b WHERE x < 0 RETURN count(*)",
    "UNWIND range(1, 1000000) AS x UNWIND range(1, 1000) AS y RETURN count(*)",
    "MATCH p = (a)-[*1..12]-(b) RETURN count(p)",
    "UNWIND range(1, 1000000) AS i WITH collect(toString(i) + '" + "x" * 600 + "') AS c RETURN size(c)",
    "RETURN [i IN range(1, 1000000) | 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'] AS big",
    "UNWIND range(1, 1000000) AS i RETURN i, 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' AS pad",
    "MATCH (a), (b), (c), (d) RETURN a, b, c, d",
    "UNWIND range(1, 1000000) AS i WITH i ORDER BY i DESC RETURN collect(i)",
]

_EVASION = [
    "RETURN `apoc.cypher.runFirstColumnMany`('RETURN 1', {}) AS x",
    "RETURN `apoc`.`cypher`.`runFirstColumnMany`('RETURN 1', {}) AS x",
    "RETURN apoc . cypher . runFirstColumnMany('RETURN 1', {}) AS x",
    "RETURN apoc./* hidden */cypher.runFirstColumnMany('RETURN 1', {}) AS x",
    "RETURN apoc.cypher // hidden\n.runFirstColumnMany('RETURN 1', {}) AS x",
    "RETURN APOC.CYPHER.RUNFIRSTCOLUMNMANY('RETURN 1', {}) AS x",
    "CALL `apoc.periodic.repeat`('evil', 'CREATE (:Evil)', 1)",
    "CALL `apoc`.periodic.submit('evil', 'CREATE (:Evil)')",
    "CALL\tapoc.export.csv.all(null, {stream: true})",
    "call APOC.LOAD.JSON('file:///etc/passwd')",
    "RETURN {a: apoc.cypher.runFirstColumnMany('RETURN 1', {})} AS x",
    "RETURN [apoc.cypher.runFirstColumnMany('RETURN 1', {})] AS x",
    "RETURN CASE WHEN true THEN apoc.cypher.runFirstColumnMany('RETURN 1', {}) END AS x",
    "MATCH (n) WHERE apoc.cypher.runFirstColumnSingle('RETURN true', {}) RETURN n",
    "RETURN 'x' + apoc.cypher.runFirstColumnSingle('RETURN 1', {}) AS x",
    "RETURN 'it\\'s' + apoc.cypher.runFirstColumnSingle('RETURN 1', {}) AS x",
    'RETURN "a\\"b" + apoc.cypher.runFirstColumnSingle(\'RETURN 1\', {}) AS x',
    "EXPLAIN CREATE (:Evil)",
    "PROFILE CREATE (:Evil)",
    "CYPHER runtime=slotted CREATE (:Evil)",
    "CYPHER 5 CREATE (:Evil)",
    "RETURN 1; CREATE (:Evil)",
    "WITH 1 AS x CALL { CREATE (:Evil) } RETURN x",
    "RETURN '/*' + apoc.cypher.runFirstColumnSingle('RETURN 1', {}) + '*/' AS x",
    "RETURN 1 AS `x` UNION ALL MATCH (n) SET n.evil = 1 RETURN 1 AS x",
    "OPTIONAL MATCH (n:Phenotype) FOREACH (_ IN CASE WHEN n IS NULL THEN [] ELSE [1] END | SET n.evil = 1)",
    "RETURN apoc.util.validatePredicate(true, 'evil %s', [1]) AS x",
    "RETURN apoc.create.uuid() AS x",
    "MATCH (n) WITH n CALL apoc.nodes.link([n], 'EVIL')",
]

_READS = [
    "MATCH (p:Phenotype) RETURN p.id AS id ORDER BY id",
    "MATCH (d:Disease {id: $id})-[:HAS_PHENOTYPE]->(p) RETURN d.name, count(p) AS n",
    "MATCH (d:Disease)-[r:HAS_PHENOTYPE]->(p:Phenotype) RETURN d.id, p.id, r.source LIMIT 10",
    "MATCH (n) RETURN labels(n) AS l, count(*) AS c ORDER BY c DESC",
    "MATCH ()-[r]->() RETURN type(r) AS t, count(*) AS c ORDER BY t",
    "CALL db.labels() YIELD label RETURN label ORDER BY label",
    "CALL db.relationshipTypes() YIELD relationshipType RETURN relationshipType",
    "CALL db.propertyKeys() YIELD propertyKey RETURN count(propertyKey) AS n",
    "CALL db.schema.visualization() YIELD nodes RETURN size(nodes) AS n",
    "CALL db.index.fulltext.queryNodes('kgdx_node_lookup', 'cough') YIELD node RETURN node.id",
    "SHOW INDEXES YIELD name RETURN name ORDER BY name",
    "SHOW CONSTRAINTS YIELD name RETURN count(name) AS n",
    "RETURN apoc.text.join(['a', 'b'], '-') AS j",
    "RETURN apoc.coll.sort([3, 1, 2]) AS s",
    "RETURN apoc.map.merge({a: 1}, {b: 2}) AS m",
    "MATCH (d:Disease) RETURN d.name, apoc.text.clean(d.name) AS clean LIMIT 3",
    "MATCH (d:Disease {id: 'MONDO:0100096'}) CALL apoc.path.subgraphNodes(d, {maxLevel: 1}) YIELD node RETURN count(node) AS n",
    "MATCH p = (d:Disease)-[:HAS_PHENOTYPE]->(:Phenotype) RETURN p LIMIT 2",
    "MATCH (d:Disease) RETURN d.id, COUNT { (d)-[:HAS_PHENOTYPE]->() } AS n ORDER BY d.id",
    "MATCH (d:Disease) WHERE EXISTS { (d)-[:HAS_PHENOTYPE]->(:Phenotype {id: 'HP:0002090'}) } RETURN d.id",
    "UNWIND range(1, 10) AS i RETURN sum(i) AS s",
    "RETURN [x IN range(1, 5) | x * x] AS squares, reduce(s = 0, x IN [1, 2, 3] | s + x) AS total",
    "MATCH (n) WHERE n.name CONTAINS 'cough' OR n.name STARTS WITH 'C' RETURN DISTINCT n.id ORDER BY n.id LIMIT 5",
    "MATCH (a:Drug)-[r:INTERACTS_WITH]->(b:Drug) RETURN a.id, b.id, r.severity",
    "WITH 'create' AS word, {set: 1, delete: 2} AS m RETURN word, m.set, m['delete']",
    "MATCH (n:Phenotype) WITH n ORDER BY n.id LIMIT 3 RETURN collect(n.id) AS ids",
    "RETURN replace('cough', 'c', 'C') AS r, toUpper('x') AS u, date('2024-01-01') AS d",
    "MATCH (n:Phenotype) RETURN n.id // CREATE (:Evil)\n ORDER BY n.id LIMIT 1",
]


def statements(canary: str) -> list[Statement]:
    """Every statement of the battery; ``canary`` is the path of a file with a random line."""
    out = [Statement("write", q, "refuse") for q in _WRITES]
    out += [Statement("admin", q, "refuse") for q in _ADMIN]
    out += [Statement("file", q, "refuse") for q in _file_reads(canary)]
    out += [Statement("dynamic", q, "refuse") for q in _DYNAMIC]
    out += [Statement("background", q, "refuse") for q in _BACKGROUND]
    out += [Statement("export", q, "refuse") for q in _EXPORT]
    out += [Statement("config", q, "refuse") for q in _CONFIG]
    out += [Statement("exhaust", q, "refuse") for q in _EXHAUST]
    out += [Statement("exhaust", q, "bounded") for q in _EXHAUST_BOUNDED]
    out += [Statement("evasion", q, "refuse") for q in _EVASION]
    out += [Statement("read", q, "read") for q in _READS]
    return out


#: Parameters every statement gets (some refer to them).
PARAMS = {
    "id": "MONDO:0100096",
    "n": 300_000_000,
    "url": "file:///etc/passwd",
    "q": "CREATE (:Evil) RETURN 1",
}
